// The control plane's operations: plain functions of a WorkerClient returning plain results,
// shared by the CLI commands and (later) the experiment runner.
export * from "./create-dataset.js";
export * from "./demo.js";
export * from "./evaluate-model.js";
export * from "./names.js";
export * from "./reporter.js";
export * from "./train-model.js";
export * from "./worker-info.js";
