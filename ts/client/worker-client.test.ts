// The typed client against the fake worker (test/fixtures/fake-worker.ts): stream iteration,
// draining to the result, cancellation, and gRPC failures as WorkerError / ProtocolError.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeWorkerPython, scratchDir } from "../../test/fixtures/scripts.js";
import type { CreateDatasetRequest } from "../generated/robustseg/v1/data.js";
import { spawnWorker, type SupervisedWorker } from "../worker/supervisor.js";
import { ProtocolError, WorkerError } from "./errors.js";

const dir = scratchDir();
let worker: SupervisedWorker;
beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "ws"), python: fakeWorkerPython(dir) });
});
afterAll(async () => {
  await worker.close();
  rmSync(dir, { recursive: true, force: true });
});

const request = (tileSize: number): CreateDatasetRequest => ({
  source: { source: { $case: "syntheticHistology", value: { tileSize, numTrain: 2, numValidation: 0, numTest: 0, seed: 0 } } },
});

describe("WorkerClient streams", () => {
  it("iterate the typed oneof events: progress, then the result", async () => {
    const cases: string[] = [];
    for await (const event of worker.client.createDataset(request(8))) {
      cases.push(event.$case);
      if (event.$case === "result") expect(event.value.datasets[0]?.id).toBe("ds-1");
    }
    expect(cases).toEqual(["progress", "result"]);
  });

  it("drain to the result, reporting progress and every event", async () => {
    const progress: number[] = [];
    const events: string[] = [];
    const result = await worker.client.createDatasetResult(request(8), {
      onProgress: (p) => progress.push(p.total),
      onEvent: (e) => events.push(e.$case),
    });
    expect(result.datasets.map((d) => d.height)).toEqual([8]);
    expect(progress).toEqual([2]);
    expect(events).toEqual(["progress", "result"]);
  });

  it("fail with ProtocolError when a stream ends without a result", async () => {
    await expect(worker.client.createDatasetResult(request(1))).rejects.toThrow(ProtocolError);
    await expect(worker.client.createDatasetResult(request(1))).rejects.toThrow("CreateDataset: stream ended without a result event");
  });

  it("turn gRPC errors into WorkerError with code and details", async () => {
    const error = await worker.client.createDatasetResult(request(0)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      codeName: "INVALID_ARGUMENT",
      rpc: "CreateDataset",
      details: "source.synthetic_histology.tile_size: must be > 0, got 0",
    });
  });

  it("cancel the call when the signal aborts", async () => {
    const controller = new AbortController();
    let seen = 0;
    const error = await worker.client
      .createDatasetResult(request(999), {
        signal: controller.signal,
        onProgress: () => {
          if (++seen === 3) controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ codeName: "CANCELLED" });
    expect(seen).toBeGreaterThanOrEqual(3);
  });

  it("cancel the call when the loop is left early", async () => {
    for await (const event of worker.client.createDataset(request(999))) {
      expect(event.$case).toBe("progress");
      break;
    }
    // the worker is still fine afterwards
    expect((await worker.client.getInfo()).version).toBe("fake");
  });
});

describe("WorkerClient unary calls", () => {
  it("reject with NOT_FOUND naming the id", async () => {
    await expect(worker.client.getModel("m-unknown")).rejects.toMatchObject({ codeName: "NOT_FOUND", details: "model m-unknown not found" });
  });

  it("do not start when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(worker.client.getInfo({ signal: controller.signal })).rejects.toThrow("stop");
  });
});
