// The control plane's operations: plain functions of a WorkerClient returning plain results,
// shared by the CLI commands and (later) the experiment runner.
export * from "./create-dataset.js";
export * from "./demo.js";
export * from "./evaluate-model.js";
export * from "./names.js";
export * from "./reporter.js";
export * from "./train-model.js";
export * from "./worker-info.js";
export * from "./attack-dataset.js";
export * from "./attacks.js";
export * from "./compare-selection.js";
export * from "./enhance-dataset.js";
export * from "./score-candidates.js";
export * from "./tensors.js";
