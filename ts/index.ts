// robustseg as a library for other Node services (docs/embedding.md). A small surface:
//   spawnWorker / connectWorker  a worker process of your own, or one already running (TLS, token)
//   WorkerClient                 the typed client of every RPC: predict and probe take images and
//                                give back whole label maps; the rest drive datasets and training
//   runExperiment                the paper's four-model experiment from a spec (loadSpec/parseSpec)
// plus the types and helpers those need. Everything else in the package is internal.
export { type ImageInput, type LabelMap, type PredictedImage, type ProbedImage, type ProbeFigures, imageChunks } from "./client/image-stream.js";
export type { PredictStreamEvent, ProbeStreamEvent } from "./client/image-stream.js";
export { ProtocolError, WorkerError } from "./client/errors.js";
export { type CallControl, WorkerClient, type WorkerClientOptions } from "./client/worker-client.js";
export { type ExperimentWorker, runExperiment, type RunExperimentOptions } from "./experiment/runner.js";
export { type ExperimentSpec, loadSpec, parseSpec, PRESETS } from "./experiment/spec.js";
export type { ExperimentResults } from "./experiment/results.js";
export { readImageFile } from "./imaging/image-files.js";
export { encodeMaskPng } from "./imaging/png.js";
export { type AttackParams, attackSpec } from "./attacks/registry.js";
export { predictFiles, type PredictFilesOutcome } from "./ops/predict-images.js";
export { probeFiles, type ProbeFilesOutcome } from "./ops/probe-images.js";
export { segmentationMetrics, type SegmentationMetrics } from "./metrics/segmentation-metrics.js";
export { loadTlsFiles, type TlsFiles, type TlsOptions } from "./client/channel.js";
export {
  connectWorker,
  openWorker,
  RemoteWorker,
  spawnWorker,
  SupervisedWorker,
  type WorkerConnection,
  WorkerExitedError,
  WorkerStartError,
} from "./worker/index.js";
export type { ConnectWorkerOptions } from "./worker/remote.js";
export type { SpawnWorkerOptions } from "./worker/supervisor.js";
