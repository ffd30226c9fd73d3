export * from "./baselines.js";
export * from "./confusion-matrix.js";
export * from "./segmentation-metrics.js";
export * from "./intervals.js";
