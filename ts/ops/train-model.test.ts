// The TrainRequest a training sends: single-process unless more than one process is asked for.
import { describe, expect, it } from "vitest";
import { distributedMessage as distributedTraining } from "./distributed.js";
import { type TrainParams, trainRequest } from "./train-model.js";

const base: TrainParams = {
  trainDatasetIds: ["ds-a"],
  validationDatasetId: "ds-v",
  model: { backend: "unet", architecture: "unet", depth: 2, baseWidth: 4, upsampling: "bilinear" },
  training: { epochs: 1, batchSize: 8, learningRate: 0.01, seed: 0, augment: true },
};

describe("distributed training in the request", () => {
  it("sends nothing for one process on one node", () => {
    expect(distributedTraining(undefined)).toBeUndefined();
    expect(distributedTraining({ nprocPerNode: 1, nnodes: 1 })).toBeUndefined();
    expect(trainRequest(base).distributed).toBeUndefined();
  });

  it("fills the contract's fields, defaults included", () => {
    expect(distributedTraining({ nprocPerNode: 2 })).toEqual({ nprocPerNode: 2, nnodes: 1, nodeRank: 0, rdzvEndpoint: "", rdzvId: "", backend: "" });
    const cluster = { nprocPerNode: 1, nnodes: 2, nodeRank: 1, rdzvEndpoint: "head:29400", rdzvId: "job", backend: "nccl" as const };
    expect(trainRequest({ ...base, distributed: cluster }).distributed).toEqual(cluster);
  });
});
