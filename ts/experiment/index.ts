// The paper's experiment: spec, stage plan, runner, results and tables.
export * from "./cache.js";
export * from "./plan.js";
export * from "./results.js";
export * from "./runner.js";
export * from "./spec.js";
export * from "./tables.js";
