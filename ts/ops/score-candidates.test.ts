// The gRPC scorer adapter: ragged per-image candidate lists flattened into one row per candidate
// (int8 (M, C), image_indices[m]) and the (M,) float64 losses split back, against a fake worker.
import { describe, expect, it } from "vitest";
import type { WorkerClient } from "../client/worker-client.js";
import type { ScoreCandidatesRequest } from "../generated/robustseg/v1/attack.js";
import { selectSigns } from "../selection/strategies.js";
import { syntheticLoss, syntheticScorer } from "../selection/synthetic.js";
import type { Sign, SignVector } from "../selection/signs.js";
import { flattenScoreRequest, workerScorer } from "./score-candidates.js";
import { float64Tensor, int8Rows } from "./tensors.js";

/** A WorkerClient stand-in whose ScoreCandidates answers loss(image, signs) per row. */
function fakeClient(loss: (image: number, s: SignVector) => number) {
  const requests: ScoreCandidatesRequest[] = [];
  const client = {
    async scoreCandidates(request: ScoreCandidatesRequest) {
      requests.push(request);
      const rows = int8Rows(request.candidates!);
      expect(rows).toHaveLength(request.imageIndices.length);
      return { losses: float64Tensor(rows.map((s, m) => loss(request.imageIndices[m] as number, s as Sign[]))) };
    },
  };
  return { client: client as unknown as WorkerClient, requests };
}

const params = { modelId: "m-1", datasetId: "ds-1", epsilon: 0.01, project: true, classCount: 3 };

describe("flattenScoreRequest", () => {
  it("makes one row per candidate with its image index, in order, without padding", () => {
    const { message, rowsPerImage } = flattenScoreRequest(
      {
        imageIndices: [7, 2, 5],
        candidates: [
          [
            [1, 0, -1],
            [0, 0, 0],
            [-1, -1, 1],
          ],
          [],
          [[0, 1, 0]],
        ],
      },
      params,
    );
    expect(rowsPerImage).toEqual([3, 0, 1]);
    expect(message.imageIndices).toEqual([7, 7, 7, 5]);
    expect(message.candidates?.shape).toEqual([4, 3]);
    expect(int8Rows(message.candidates!)).toEqual([
      [1, 0, -1],
      [0, 0, 0],
      [-1, -1, 1],
      [0, 1, 0],
    ]);
    expect(message).toMatchObject({ modelId: "m-1", datasetId: "ds-1", epsilon: 0.01, project: true });
    expect(() => flattenScoreRequest({ imageIndices: [0], candidates: [[[2, 0, 0] as unknown as Sign[]]] }, params)).toThrow(/expected -1, 0 or 1/);
    expect(() => flattenScoreRequest({ imageIndices: [0], candidates: [[[0, 0]]] }, params)).toThrow(/length 2/);
  });
});

describe("workerScorer", () => {
  it("round-trips ragged rows: each loss lands on its own image and candidate", async () => {
    const loss = (image: number, s: SignVector) => image * 10 + s.reduce<number>((a, v, c) => a + (v + 1) * 3 ** c, 0);
    const { client, requests } = fakeClient(loss);
    const request = { imageIndices: [4, 1], candidates: [[[1, 1, 1], [0, 0, 0]] as Sign[][], [[-1, 0, 1]] as Sign[][]] };
    const out = await workerScorer(client, params)(request, {});
    expect(out.map((r) => Array.from(r))).toEqual([[loss(4, [1, 1, 1]), loss(4, [0, 0, 0])], [loss(1, [-1, 0, 1])]]);
    expect(requests).toHaveLength(1);
  });

  it("greedy and beam through the adapter choose exactly what they choose on the scorer itself", async () => {
    const loss = syntheticLoss({ kind: "pairwise", seed: 11, classCount: 4 });
    const { client, requests } = fakeClient(loss);
    const images = [0, 1, 2, 3, 4, 5, 6, 7];
    for (const strategy of [{ kind: "greedy" } as const, { kind: "beam", width: 2 } as const]) {
      const viaWorker = await selectSigns(workerScorer(client, { ...params, classCount: 4 }), {
        classCount: 4,
        imageIndices: images,
        strategy,
        maxCandidatesPerRequest: 10,
      });
      const direct = await selectSigns(syntheticScorer(loss).scorer, { classCount: 4, imageIndices: images, strategy, maxCandidatesPerRequest: 10 });
      expect(viaWorker.results).toEqual(direct.results);
    }
    // Greedy's rounds are ragged across images once some converge; every request stays within the bound.
    for (const r of requests) expect(r.imageIndices.length).toBeLessThanOrEqual(10);
    expect(requests.some((r) => new Set(r.imageIndices).size > 1)).toBe(true);
  });

  it("rejects an answer with the wrong number of losses", async () => {
    const client = { scoreCandidates: async () => ({ losses: float64Tensor([1]) }) } as unknown as WorkerClient;
    await expect(workerScorer(client, params)({ imageIndices: [0], candidates: [[[0, 0, 0], [1, 0, 0]]] }, {})).rejects.toThrow(/expected 2 float64 values/);
  });
});
