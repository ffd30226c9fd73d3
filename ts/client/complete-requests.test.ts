import { describe, expect, it } from "vitest";
import { TrainRequest } from "../generated/robustseg/v1/model.js";
import { WorkerServiceService } from "../generated/robustseg/v1/worker_service.js";
import { completingWorkerService } from "./complete-requests.js";

describe("requests completed before encoding", () => {
  // A Train request as a plain-JavaScript caller written before UNetSpec gained input_bits sends it.
  const partial = {
    model: { architecture: { $case: "unet", value: { depth: 2, baseWidth: 8, upsampling: 0 } } },
    trainDatasetIds: ["ds-0123456789abcdef"],
    validationDatasetId: "ds-fedcba9876543210",
    config: { epochs: 2, batchSize: 8, learningRate: 0.01, seed: 0, augment: false },
  };

  it("the generated encoder alone refuses the missing scalar", () => {
    expect(() => WorkerServiceService.train.requestSerialize(partial as unknown as TrainRequest)).toThrow(/invalid int32: undefined/);
  });

  it("encodes it as the complete message with the missing fields at their zero values", () => {
    const bytes = completingWorkerService.train.requestSerialize(partial as unknown as TrainRequest);
    const decoded = TrainRequest.decode(bytes);
    expect(decoded).toEqual(TrainRequest.fromPartial(partial as Parameters<typeof TrainRequest.fromPartial>[0]));
    expect(decoded.model?.architecture).toEqual({ $case: "unet", value: { depth: 2, baseWidth: 8, upsampling: 0, inputBits: 0 } });
    expect(decoded.config?.epochs).toBe(2);
  });

  it("covers every method of the service", () => {
    expect(Object.keys(completingWorkerService).sort()).toEqual(Object.keys(WorkerServiceService).sort());
  });
});
