// The typed client of robustseg.v1.WorkerService: promises for unary calls, async iterators for
// the server streams, AbortSignal cancellation, WorkerError for gRPC failures.
import type { CallOptions, ClientUnaryCall, Metadata, ServiceError } from "@grpc/grpc-js";
import type {
  AttackDatasetRequest,
  BuildEnhancedDatasetRequest,
  DatasetBuildEvent,
  ScoreCandidatesRequest,
  ScoreCandidatesResponse,
} from "../generated/robustseg/v1/attack.js";
import type { CreateDatasetEvent, CreateDatasetRequest, DatasetInfo, GetDatasetResponse } from "../generated/robustseg/v1/data.js";
import type { RenderPanelsRequest, RenderPanelsResponse } from "../generated/robustseg/v1/figure.js";
import type {
  ListModelAliasesResponse,
  ModelAlias,
  PredictEvent,
  PredictOptions,
  PredictRequest,
  ProbeEvent,
  ProbeOptions,
  ProbeRequest,
  SetModelAliasResponse,
} from "../generated/robustseg/v1/predict.js";
import type {
  EvaluateEvent,
  EvaluateRequest,
  EvaluateWorstCaseEvent,
  EvaluateWorstCaseRequest,
  ExportModelEvent,
  ExportModelRequest,
  GetModelResponse,
  ModelInfo,
  TrainEvent,
  TrainRequest,
} from "../generated/robustseg/v1/model.js";
import type {
  CollectGarbageRequest,
  CollectGarbageResponse,
  ListRunUsageResponse,
  RecordRunUsageRequest,
  RecordRunUsageResponse,
  RunUsage,
  VerifyStoreEvent,
  VerifyStoreRequest,
} from "../generated/robustseg/v1/store.js";
import {
  type GetInfoResponse,
  type ShutdownResponse,
  type ValidatePlanRequest,
  type ValidatePlanResponse,
  WorkerServiceClient,
} from "../generated/robustseg/v1/worker_service.js";
import { CompletingWorkerServiceClient } from "./complete-requests.js";
import { callMetadata, channelCredentials, channelOptions, type TlsOptions } from "./channel.js";
import { ArgumentChecks, checkTlsOptions } from "./arguments.js";
import { ProtocolError, toWorkerError } from "./errors.js";
import { drainToResult, type DrainHandlers, type EventOf, iterateStream, type ResultOf } from "./streams.js";
import {
  assemblePredictions,
  assembleProbes,
  duplexEvents,
  type ImageInput,
  type PredictStreamEvent,
  type ProbeStreamEvent,
  requestsOf,
} from "./image-stream.js";

export interface CallControl {
  /** Aborting cancels the call (the worker stops at its next step). */
  signal?: AbortSignal | undefined;
  /** Milliseconds from now after which the call fails with DEADLINE_EXCEEDED. */
  timeoutMs?: number | undefined;
}

export interface WorkerClientOptions {
  /** Bearer token sent as `authorization` metadata on every call. */
  token?: string | undefined;
  /** TLS to the worker (CA, client certificate for mutual TLS); unset = plain TCP. */
  tls?: TlsOptions | undefined;
}

export class WorkerClient {
  readonly raw: WorkerServiceClient;
  private readonly token: string | undefined;

  constructor(
    readonly address: string,
    options: WorkerClientOptions = {},
  ) {
    const check = new ArgumentChecks("WorkerClient");
    check.string("address", address);
    const { token, tls } = check.options(options, false);
    check.optionalString("token", token);
    checkTlsOptions(check, tls);
    this.raw = new CompletingWorkerServiceClient(address, channelCredentials(tls), channelOptions(tls));
    this.token = token;
  }

  // ---- unary calls ----

  getInfo(control: CallControl = {}): Promise<GetInfoResponse> {
    return this.unary<GetInfoResponse>("GetInfo", control, (md, opts, cb) => this.raw.getInfo({}, md, opts, cb));
  }

  async getDataset(datasetId: string, control: CallControl = {}): Promise<DatasetInfo> {
    const response = await this.unary<GetDatasetResponse>("GetDataset", control, (md, opts, cb) =>
      this.raw.getDataset({ datasetId }, md, opts, cb),
    );
    if (!response.dataset) throw new ProtocolError("GetDataset", "response without a dataset");
    return response.dataset;
  }

  async getModel(modelId: string, control: CallControl = {}): Promise<ModelInfo> {
    const response = await this.unary<GetModelResponse>("GetModel", control, (md, opts, cb) => this.raw.getModel({ modelId }, md, opts, cb));
    if (!response.model) throw new ProtocolError("GetModel", "response without a model");
    return response.model;
  }

  /** Method two: losses of candidate sign vectors per image (float64 tensor). */
  scoreCandidates(request: ScoreCandidatesRequest, control: CallControl = {}): Promise<ScoreCandidatesResponse> {
    return this.unary<ScoreCandidatesResponse>("ScoreCandidates", control, (md, opts, cb) =>
      this.raw.scoreCandidates(request, md, opts, cb),
    );
  }

  /** Figure panels (PNG) rendered from the tensors: at most 16 images per call. */
  renderPanels(request: RenderPanelsRequest, control: CallControl = {}): Promise<RenderPanelsResponse> {
    return this.unary<RenderPanelsResponse>("RenderPanels", control, (md, opts, cb) => this.raw.renderPanels(request, md, opts, cb));
  }

  /** Checks a whole plan (data source, model specs, training configs, attacks) before any work. */
  validatePlan(request: ValidatePlanRequest, control: CallControl = {}): Promise<ValidatePlanResponse> {
    return this.unary<ValidatePlanResponse>("ValidatePlan", control, (md, opts, cb) => this.raw.validatePlan(request, md, opts, cb));
  }

  /** Points `alias` at a model id (an empty id removes the alias); returns the id it pointed to before. */
  async setModelAlias(alias: string, modelId: string, control: CallControl = {}): Promise<SetModelAliasResponse> {
    return this.unary<SetModelAliasResponse>("SetModelAlias", control, (md, opts, cb) => this.raw.setModelAlias({ alias, modelId }, md, opts, cb));
  }

  async listModelAliases(control: CallControl = {}): Promise<ModelAlias[]> {
    const response = await this.unary<ListModelAliasesResponse>("ListModelAliases", control, (md, opts, cb) =>
      this.raw.listModelAliases({}, md, opts, cb),
    );
    return response.aliases;
  }

  /** Removes what nothing refers to (or, with dry_run, says what it would remove). */
  collectGarbage(request: CollectGarbageRequest, control: CallControl = {}): Promise<CollectGarbageResponse> {
    return this.unary<CollectGarbageResponse>("CollectGarbage", control, (md, opts, cb) => this.raw.collectGarbage(request, md, opts, cb));
  }

  /** Adds artifact ids to the workspace's record of a run folder (what gc keeps); the record now. */
  async recordRunUsage(request: RecordRunUsageRequest, control: CallControl = {}): Promise<RunUsage | undefined> {
    const response = await this.unary<RecordRunUsageResponse>("RecordRunUsage", control, (md, opts, cb) => this.raw.recordRunUsage(request, md, opts, cb));
    return response.usage;
  }

  /** Every run folder the workspace has a record of, with the artifact ids each used. */
  async listRunUsage(control: CallControl = {}): Promise<RunUsage[]> {
    const response = await this.unary<ListRunUsageResponse>("ListRunUsage", control, (md, opts, cb) => this.raw.listRunUsage({}, md, opts, cb));
    return response.runs;
  }

  async shutdown(control: CallControl = {}): Promise<void> {
    await this.unary<ShutdownResponse>("Shutdown", control, (md, opts, cb) => this.raw.shutdown({}, md, opts, cb));
  }

  // ---- server streams: iterators of the oneof events ----

  createDataset(request: CreateDatasetRequest, control: CallControl = {}): AsyncGenerator<EventOf<CreateDatasetEvent>> {
    return iterateStream(this.raw.createDataset(request, this.metadata(), this.callOptions(control)), "CreateDataset", control.signal);
  }

  train(request: TrainRequest, control: CallControl = {}): AsyncGenerator<EventOf<TrainEvent>> {
    return iterateStream(this.raw.train(request, this.metadata(), this.callOptions(control)), "Train", control.signal);
  }

  evaluate(request: EvaluateRequest, control: CallControl = {}): AsyncGenerator<EventOf<EvaluateEvent>> {
    return iterateStream(this.raw.evaluate(request, this.metadata(), this.callOptions(control)), "Evaluate", control.signal);
  }

  evaluateWorstCase(request: EvaluateWorstCaseRequest, control: CallControl = {}): AsyncGenerator<EventOf<EvaluateWorstCaseEvent>> {
    return iterateStream(this.raw.evaluateWorstCase(request, this.metadata(), this.callOptions(control)), "EvaluateWorstCase", control.signal);
  }

  attackDataset(request: AttackDatasetRequest, control: CallControl = {}): AsyncGenerator<EventOf<DatasetBuildEvent>> {
    return iterateStream(this.raw.attackDataset(request, this.metadata(), this.callOptions(control)), "AttackDataset", control.signal);
  }

  buildEnhancedDataset(request: BuildEnhancedDatasetRequest, control: CallControl = {}): AsyncGenerator<EventOf<DatasetBuildEvent>> {
    return iterateStream(
      this.raw.buildEnhancedDataset(request, this.metadata(), this.callOptions(control)),
      "BuildEnhancedDataset",
      control.signal,
    );
  }

  /** The exported file in chunks, then its result (size, sha256, names). */
  exportModel(request: ExportModelRequest, control: CallControl = {}): AsyncGenerator<EventOf<ExportModelEvent>> {
    return iterateStream(this.raw.exportModel(request, this.metadata(), this.callOptions(control)), "ExportModel", control.signal);
  }

  // ---- embedding: images in, segmentations out (bidirectional streams) ----

  /**
   * Segments `images` with a model (id or alias). Events: the header (class names and colours),
   * then one `image` per input with its whole label map (and probabilities when asked for),
   * progress, and the summary last. Images of any size: they travel in bands of rows.
   */
  predict(
    options: PredictOptions,
    images: Iterable<ImageInput> | AsyncIterable<ImageInput>,
    control: CallControl = {},
  ): AsyncGenerator<PredictStreamEvent> {
    const call = this.raw.predict(this.metadata(), this.callOptions(control));
    const requests = requestsOf<PredictRequest>({ part: { $case: "options", value: options } }, images, (chunk) => ({ part: { $case: "image", value: chunk } }));
    return assemblePredictions(duplexEvents<PredictRequest, PredictEvent>(call, requests, "Predict", control.signal));
  }

  /** Clean and attacked predictions of `images` and how far they differ (see predict.proto, Probe). */
  probe(
    options: ProbeOptions,
    images: Iterable<ImageInput> | AsyncIterable<ImageInput>,
    control: CallControl = {},
  ): AsyncGenerator<ProbeStreamEvent> {
    const call = this.raw.probe(this.metadata(), this.callOptions(control));
    const requests = requestsOf<ProbeRequest>({ part: { $case: "options", value: options } }, images, (chunk) => ({ part: { $case: "image", value: chunk } }));
    return assembleProbes(duplexEvents<ProbeRequest, ProbeEvent>(call, requests, "Probe", control.signal));
  }

  verifyStore(request: VerifyStoreRequest, control: CallControl = {}): AsyncGenerator<EventOf<VerifyStoreEvent>> {
    return iterateStream(this.raw.verifyStore(request, this.metadata(), this.callOptions(control)), "VerifyStore", control.signal);
  }

  // ---- server streams drained to their result ----

  createDatasetResult(
    request: CreateDatasetRequest,
    control: CallControl & DrainHandlers<CreateDatasetEvent> = {},
  ): Promise<ResultOf<CreateDatasetEvent>> {
    return drainToResult<CreateDatasetEvent>(this.createDataset(request, control), "CreateDataset", control);
  }

  trainResult(request: TrainRequest, control: CallControl & DrainHandlers<TrainEvent> = {}): Promise<ResultOf<TrainEvent>> {
    return drainToResult<TrainEvent>(this.train(request, control), "Train", control);
  }

  evaluateResult(
    request: EvaluateRequest,
    control: CallControl & DrainHandlers<EvaluateEvent> = {},
  ): Promise<ResultOf<EvaluateEvent>> {
    return drainToResult<EvaluateEvent>(this.evaluate(request, control), "Evaluate", control);
  }

  evaluateWorstCaseResult(
    request: EvaluateWorstCaseRequest,
    control: CallControl & DrainHandlers<EvaluateWorstCaseEvent> = {},
  ): Promise<ResultOf<EvaluateWorstCaseEvent>> {
    return drainToResult<EvaluateWorstCaseEvent>(this.evaluateWorstCase(request, control), "EvaluateWorstCase", control);
  }

  attackDatasetResult(
    request: AttackDatasetRequest,
    control: CallControl & DrainHandlers<DatasetBuildEvent> = {},
  ): Promise<ResultOf<DatasetBuildEvent>> {
    return drainToResult<DatasetBuildEvent>(this.attackDataset(request, control), "AttackDataset", control);
  }

  buildEnhancedDatasetResult(
    request: BuildEnhancedDatasetRequest,
    control: CallControl & DrainHandlers<DatasetBuildEvent> = {},
  ): Promise<ResultOf<DatasetBuildEvent>> {
    return drainToResult<DatasetBuildEvent>(this.buildEnhancedDataset(request, control), "BuildEnhancedDataset", control);
  }

  verifyStoreResult(request: VerifyStoreRequest, control: CallControl & DrainHandlers<VerifyStoreEvent> = {}): Promise<ResultOf<VerifyStoreEvent>> {
    return drainToResult<VerifyStoreEvent>(this.verifyStore(request, control), "VerifyStore", control);
  }

  close(): void {
    this.raw.close();
  }

  // ---- plumbing ----

  private metadata(): Metadata {
    return callMetadata(this.token);
  }

  private callOptions(control: CallControl): Partial<CallOptions> {
    const timeoutMs = new ArgumentChecks("WorkerClient call").positiveNumber("timeoutMs", control.timeoutMs);
    return timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
  }

  private unary<T>(
    rpc: string,
    control: CallControl,
    invoke: (
      metadata: Metadata,
      options: Partial<CallOptions>,
      callback: (error: ServiceError | null, response: T) => void,
    ) => ClientUnaryCall,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      control.signal?.throwIfAborted();
      const onAbort = () => call.cancel();
      const call = invoke(this.metadata(), this.callOptions(control), (error, response) => {
        control.signal?.removeEventListener("abort", onAbort);
        if (error) reject(toWorkerError(error, rpc));
        else resolve(response);
      });
      control.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
