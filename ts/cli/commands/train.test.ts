// `train` names the option as typed when the worker refuses a model or training field.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { WorkerError } from "../../client/errors.js";
import { UsageError } from "../errors.js";
import { optionErrorOf } from "./train.js";

const invalid = (details: string) => new WorkerError(status.INVALID_ARGUMENT, details, "Train");

describe("the worker's INVALID_ARGUMENT as the option that caused it", () => {
  it.each([
    ["smp", "model.smp.encoder: unknown encoder 'resnet1000'", "--encoder: unknown encoder 'resnet1000'"],
    ["smp", "model.smp.encoder_depth: must be between 3 and 5", "--encoder-depth: must be between 3 and 5"],
    ["monai", "model.monai.channels[2]: must be an integer between 1 and 4096, got 0", "--channels: must be an integer between 1 and 4096, got 0"],
    // The CLI's message names its own default, not the contract's "0 = default 64".
    ["unet", "model.unet.base_width: must be between 1 and 512 (0 = default 64), got 1000", "--base-width: must be between 1 and 512 (default 16), got 1000"],
    ["unet", "model.unet.depth: must be between 1 and 7 (0 = default 4), got 9", "--depth: must be between 1 and 7 (default 3), got 9"],
    ["unet", "train_dataset_ids[0]: dataset ds-1 has classes [a, b]", "--train: dataset ds-1 has classes [a, b]"],
    ["unet", "config.learning_rate: must be <= 10, got 20", "--lr: must be <= 10, got 20"],
    ["unet", "distributed.rdzv_endpoint: required with nnodes > 1", "--rdzv-endpoint: required with nnodes > 1"],
    ["unet", "distributed.nproc_per_node: 4 processes need config.batch_size >= 8", "--nproc: 4 processes need config.batch_size >= 8"],
  ])("%s: %s", (backend, details, expected) => {
    const out = optionErrorOf(invalid(details), backend);
    expect(out).toBeInstanceOf(UsageError);
    expect((out as UsageError).message).toBe(expected);
  });

  it("names the flag of a refused memory estimate too, keeping it a resource error", () => {
    const refused = new WorkerError(status.RESOURCE_EXHAUSTED, "config.batch_size: training needs about 9 GiB; at most 7 tiles per batch fit", "Train");
    const out = optionErrorOf(refused, "unet") as WorkerError;
    expect(out).toBeInstanceOf(WorkerError);
    expect([out.codeName, out.details]).toEqual(["RESOURCE_EXHAUSTED", "--batch-size: training needs about 9 GiB; at most 7 tiles per batch fit"]);
    const model = optionErrorOf(new WorkerError(status.RESOURCE_EXHAUSTED, "model.unet: training needs about 36 GiB; use a smaller model", "Train"), "unet") as WorkerError;
    expect(model.details).toBe("unet (--depth, --base-width, --upsampling): training needs about 36 GiB; use a smaller model");
  });

  it("leaves other failures alone", () => {
    const notFound = new WorkerError(status.NOT_FOUND, "dataset ds-x not found", "Train");
    expect(optionErrorOf(notFound, "unet")).toBe(notFound);
    const other = invalid("no field here");
    expect(optionErrorOf(other, "unet")).toBe(other);
  });
});
