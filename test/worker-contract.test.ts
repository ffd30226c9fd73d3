// The contract, checked against the real Python worker: one worker on port 0 (spawned by the
// supervisor, with a token) for the whole file; calls through the generated grpc-js client and
// through the typed wrapper; tiny data (8 tiles of 16×16) so that it stays quick on two cores.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerError } from "../ts/client/errors.js";
import type { EventOf } from "../ts/client/streams.js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../ts/generated/grpc/health/v1/health.js";
import { Split } from "../ts/generated/robustseg/v1/common.js";
import type { CreateDatasetEvent, CreateDatasetRequest, DatasetInfo } from "../ts/generated/robustseg/v1/data.js";
import { type TrainEvent, type TrainRequest, Upsampling } from "../ts/generated/robustseg/v1/model.js";
import type { GetInfoResponse } from "../ts/generated/robustseg/v1/worker_service.js";
import { callMetadata, channelCredentials, channelOptions, MAX_MESSAGE_BYTES } from "../ts/client/channel.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";

const CLASS_NAMES = ["background", "neoplastic", "inflammatory", "connective", "dead", "epithelial"];
const TILE = 16;

const dir = scratchDir("robustseg-contract-");
const workspace = join(dir, "workspace");
let worker: SupervisedWorker;
let metadata: Metadata;

beforeAll(async () => {
  worker = await spawnWorker({ workspace, device: "cpu" });
  metadata = callMetadata(worker.token);
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A unary call of the generated client as a promise. */
function call<T>(invoke: (callback: (error: ServiceError | null, response: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response)));
  });
}

function datasetRequest(seed: number, counts = { train: 8, validation: 4, test: 4 }): CreateDatasetRequest {
  return {
    source: {
      source: {
        $case: "syntheticHistology",
        value: { tileSize: TILE, numTrain: counts.train, numValidation: counts.validation, numTest: counts.test, seed },
      },
    },
  };
}

function trainRequest(train: DatasetInfo, validation: DatasetInfo, epochs = 1): TrainRequest {
  return {
    model: { architecture: { $case: "unet", value: { depth: 2, baseWidth: 4, upsampling: Upsampling.UPSAMPLING_BILINEAR, inputBits: 0 } } },
    trainDatasetIds: [train.id],
    validationDatasetId: validation.id,
    config: { epochs, batchSize: 4, learningRate: 0.01, seed: 0, augment: false, adversarial: undefined },
    distributed: undefined,
  };
}

describe("health", () => {
  it("reports SERVING", async () => {
    const health = new HealthClient(worker.address, channelCredentials(), channelOptions());
    try {
      const response = await call<{ status: HealthCheckResponse_ServingStatus }>((cb) => health.check({ service: "" }, metadata, cb));
      expect(response.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      health.close();
    }
  });
});

describe("GetInfo", () => {
  it("describes the worker with every field of GetInfoResponse", async () => {
    const info = await call<GetInfoResponse>((cb) => worker.client.raw.getInfo({}, metadata, cb));
    expect(info.version).toMatch(/\S/);
    expect(info.device).toBe("cpu");
    expect(info.deviceType).toBe("cpu");
    expect(info.torchVersion).toMatch(/^\d+\.\d+/);
    expect(info.torchThreads).toBeGreaterThanOrEqual(1);
    expect(info.backends).toContain("unet");
    expect(info.dataSources).toContain("synthetic-histology");
    expect(info.capabilities).toEqual(expect.arrayContaining(["train", "evaluate"]));
    expect(info.workspace).toBe(workspace);
    expect(info.maxMessageBytes).toBe(MAX_MESSAGE_BYTES);
  });

  it("refuses a call without the bearer token", async () => {
    const error = await call((cb) => worker.client.raw.getInfo({}, cb)).catch((e: ServiceError) => e);
    expect(error).toMatchObject({ code: status.UNAUTHENTICATED });
  });
});

describe("datasets", () => {
  let splits: DatasetInfo[];

  it("CreateDataset streams progress, then one result with a dataset per split", async () => {
    const events: EventOf<CreateDatasetEvent>[] = [];
    for await (const event of worker.client.createDataset(datasetRequest(1))) events.push(event);
    const cases = events.map((e) => e.$case);
    expect(cases.length).toBeGreaterThan(1);
    expect(cases.slice(0, -1).every((c) => c === "progress")).toBe(true);
    const last = events.at(-1);
    if (last?.$case !== "result") throw new Error(`last event is ${last?.$case}`);
    expect(last.value.reused).toBe(false);
    splits = last.value.datasets;
    expect(splits.map((d) => d.split)).toEqual([Split.SPLIT_TRAIN, Split.SPLIT_VALIDATION, Split.SPLIT_TEST]);
    expect(splits.map((d) => d.numImages)).toEqual([8, 4, 4]);
    for (const d of splits) {
      expect(d).toMatchObject({ height: TILE, width: TILE, channels: 3, classNames: CLASS_NAMES, source: "synthetic-histology" });
      expect(d.id).toMatch(/\S/);
      expect(d.classPixelCounts).toHaveLength(CLASS_NAMES.length);
      expect(d.classPixelCounts.reduce((a, b) => a + b, 0)).toBe(d.numImages * TILE * TILE);
      expect(JSON.parse(d.provenanceJson)).toBeTypeOf("object");
    }
  });

  it("CreateDataset of the same request reuses the same ids", async () => {
    const again = await worker.client.createDatasetResult(datasetRequest(1));
    expect(again.reused).toBe(true);
    expect(again.datasets.map((d) => d.id)).toEqual(splits.map((d) => d.id));
  });

  it("GetDataset returns what CreateDataset made", async () => {
    const train = splits[0] as DatasetInfo;
    const response = await call<{ dataset?: DatasetInfo }>((cb) => worker.client.raw.getDataset({ datasetId: train.id }, metadata, cb));
    expect(response.dataset).toEqual(train);
  });

  it("GetDataset of an unknown id is NOT_FOUND naming the id", async () => {
    await expect(worker.client.getDataset("ds-does-not-exist")).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining("ds-does-not-exist"),
    });
  });

  it("CreateDataset with tile size 0 is INVALID_ARGUMENT naming the field", async () => {
    const request = datasetRequest(2);
    if (request.source?.source?.$case === "syntheticHistology") request.source.source.value.tileSize = 0;
    const error = await worker.client.createDatasetResult(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("tile_size") });
  });

  describe("training and evaluation", () => {
    let modelId: string;

    it("Train on 8 tiles for one epoch streams steps, an epoch summary and the model", async () => {
      const [train, validation] = splits as [DatasetInfo, DatasetInfo];
      const events: EventOf<TrainEvent>[] = [];
      for await (const event of worker.client.train(trainRequest(train, validation))) events.push(event);
      const last = events.at(-1);
      if (last?.$case !== "result") throw new Error(`last event is ${last?.$case}`);
      const steps = events.flatMap((e) => (e.$case === "step" ? [e.value] : []));
      expect(steps.map((s) => s.step)).toEqual([1, 2]); // 8 tiles / batch 4
      expect(steps.every((s) => s.epoch === 1 && s.stepsPerEpoch === 2 && Number.isFinite(s.loss))).toBe(true);
      const epochs = events.flatMap((e) => (e.$case === "epoch" ? [e.value] : []));
      expect(epochs).toHaveLength(1);
      const summary = epochs[0];
      expect(summary?.epoch).toBe(1);
      expect(summary?.best).toBe(true);
      const cm = summary?.validationConfusion;
      expect(cm?.numClasses).toBe(CLASS_NAMES.length);
      expect(cm?.counts).toHaveLength(CLASS_NAMES.length ** 2);
      expect(cm?.counts.reduce((a, b) => a + b, 0)).toBe(validation.numImages * TILE * TILE);

      const model = last.value.model;
      expect(last.value.reused).toBe(false);
      expect(model).toMatchObject({ backend: "unet", numClasses: 6, classNames: CLASS_NAMES, bestEpoch: 1 });
      expect(model?.numParameters).toBeGreaterThan(0);
      expect(model?.history).toHaveLength(1);
      expect(model?.spec?.architecture).toEqual({ $case: "unet", value: { depth: 2, baseWidth: 4, upsampling: Upsampling.UPSAMPLING_BILINEAR, inputBits: 0 } });
      modelId = model?.id ?? "";
      expect(modelId).toMatch(/\S/);
    });

    it("Train of the same request reuses the model", async () => {
      const [train, validation] = splits as [DatasetInfo, DatasetInfo];
      const result = await worker.client.trainResult(trainRequest(train, validation));
      expect(result.reused).toBe(true);
      expect(result.model?.id).toBe(modelId);
    });

    it("GetModel returns the trained model", async () => {
      const model = await worker.client.getModel(modelId);
      expect(model.id).toBe(modelId);
      expect(model.history[0]?.epoch).toBe(1);
    });

    it("Evaluate returns a confusion matrix that sums to num_pixels", async () => {
      const test = splits[2] as DatasetInfo;
      const progress: number[] = [];
      const result = await worker.client.evaluateResult(
        { modelId, datasetId: test.id, batchSize: 0, attack: undefined, attackModelId: "", distributed: undefined },
        { onProgress: (p) => progress.push(p.done) },
      );
      expect(result.numImages).toBe(4);
      expect(result.numPixels).toBe(4 * TILE * TILE);
      expect(result.confusion?.numClasses).toBe(6);
      expect(result.confusion?.counts.reduce((a, b) => a + b, 0)).toBe(result.numPixels);
      // Row sums are the truth's class counts of the dataset.
      const rows = Array.from({ length: 6 }, (_, i) => (result.confusion?.counts.slice(i * 6, i * 6 + 6) ?? []).reduce((a, b) => a + b, 0));
      expect(rows).toEqual(test.classPixelCounts);
      expect(Number.isFinite(result.meanLoss) && result.meanLoss > 0).toBe(true);
    });

    it("Evaluate and GetModel of an unknown model id are NOT_FOUND naming the id", async () => {
      const test = splits[2] as DatasetInfo;
      await expect(worker.client.getModel("m-unknown")).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringContaining("m-unknown") });
      await expect(
        worker.client.evaluateResult({ modelId: "m-unknown", datasetId: test.id, batchSize: 0, attack: undefined, attackModelId: "", distributed: undefined }),
      ).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringContaining("m-unknown") });
    });

    it("Train with negative epochs is INVALID_ARGUMENT naming config.epochs", async () => {
      const [train, validation] = splits as [DatasetInfo, DatasetInfo];
      await expect(worker.client.trainResult(trainRequest(train, validation, -1))).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/^config\.epochs\b/),
      });
    });

    it("Train is cancelled when the client aborts, and the worker goes on serving", async () => {
      const [train, validation] = splits as [DatasetInfo, DatasetInfo];
      const controller = new AbortController();
      const request = trainRequest(train, validation, 500);
      const error = await worker.client
        .trainResult(request, { signal: controller.signal, onEvent: (e) => e.$case === "step" && controller.abort() })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: status.CANCELLED });
      expect((await worker.client.getInfo()).version).toMatch(/\S/);
    });
  });
});
