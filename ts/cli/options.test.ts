// Option validation with zod: values as typed on the command line, messages naming what was wrong.
import { describe, expect, it } from "vitest";
import { datasetCreateOptionsSchema } from "./commands/dataset-create.js";
import { evaluateOptionsSchema } from "./commands/evaluate.js";
import { predictOptionsSchema } from "./commands/predict.js";
import { probeOptionsSchema } from "./commands/probe.js";
import { trainOptionsSchema } from "./commands/train.js";
import { globalOptionsSchema } from "./global-options.js";
import { choice, hostPort, nonNegativeInteger, positiveInteger, positiveNumber } from "./option-schemas.js";

const message = (result: { success: boolean; error?: { issues: { message: string; path: PropertyKey[] }[] } }) => {
  const issue = result.error?.issues[0];
  return issue ? `${issue.path.join(".")}: ${issue.message}` : "ok";
};

describe("option value schemas", () => {
  it("accept integers given as strings or numbers", () => {
    expect(positiveInteger().parse("12")).toBe(12);
    expect(positiveInteger().parse(12)).toBe(12);
    expect(nonNegativeInteger().parse("0")).toBe(0);
  });

  it.each([
    ["-1", "must be a positive integer, got -1"],
    ["0", "must be a positive integer, got 0"],
    ["1.5", "must be a positive integer, got 1.5"],
    ["abc", "must be a positive integer, got abc"],
    ["", 'must be a positive integer, got ""'],
    ["1e3", "must be a positive integer, got 1e3"],
  ])("reject %j as a positive integer", (value, expected) => {
    expect(message(positiveInteger().safeParse(value))).toBe(`: ${expected}`);
  });

  it("name the upper bound", () => {
    expect(message(positiveInteger(8).safeParse("9"))).toBe(": must be at most 8, got 9");
  });

  it("check positive numbers, choices and HOST:PORT", () => {
    expect(positiveNumber().parse("3e-4")).toBe(0.0003);
    expect(message(positiveNumber().safeParse("0"))).toBe(": must be a positive number, got 0");
    expect(message(positiveNumber().safeParse("NaN"))).toBe(": must be a positive number, got NaN");
    expect(choice(["a", "b"]).parse("b")).toBe("b");
    expect(message(choice(["a", "b"]).safeParse("c"))).toBe(": must be one of a, b, got c");
    expect(hostPort().parse("10.0.0.2:50051")).toBe("10.0.0.2:50051");
    expect(hostPort().parse("[::1]:50051")).toBe("[::1]:50051");
    expect(message(hostPort().safeParse("host:99999"))).toBe(": must be HOST:PORT, got host:99999");
  });
});

describe("command option schemas", () => {
  const trainDefaults = { train: ["ds-0123456789abcdef"], validation: "ds-fedcba9876543210", backend: "unet", epochs: 5, batchSize: 16, lr: 0.003, seed: 0, augment: true, nproc: 1, nnodes: 1, nodeRank: 0 };

  it("turn train options into typed values", () => {
    expect(trainOptionsSchema.parse({ ...trainDefaults, epochs: "2", lr: "1e-3", backend: "smp" })).toMatchObject({
      epochs: 2,
      lr: 0.001,
      backend: "smp",
      train: ["ds-0123456789abcdef"],
    });
  });

  it.each([
    [{ epochs: "-1" }, "epochs: must be a positive integer, got -1"],
    [{ batchSize: "0" }, "batchSize: must be a positive integer, got 0"],
    [{ backend: "keras" }, "backend: must be one of unet, smp, monai, got keras"],
    [{ train: undefined }, "train: required (one or more dataset ids)"],
    [{ validation: undefined }, "validation: required (a dataset id)"],
    [{ validation: "bad id!" }, "validation: must be a dataset id (ds- and 16 hex digits), got bad id!"],
    [{ validation: "m-0123456789abcdef" }, "validation: m-0123456789abcdef is a model id; give a dataset id (ds-…)"],
    [{ nproc: "0" }, "nproc: must be a positive integer, got 0"],
    [{ rdzvEndpoint: "head" }, "rdzvEndpoint: must be HOST:PORT, got head"],
    [{ distBackend: "mpi" }, "distBackend: must be one of gloo, nccl, got mpi"],
  ])("reject train options %j", (change, expected) => {
    expect(message(trainOptionsSchema.safeParse({ ...trainDefaults, ...change }))).toBe(expected);
  });

  it("reject an unknown data source", () => {
    expect(message(datasetCreateOptionsSchema.safeParse({ source: "camelyon" }))).toBe(
      "source: must be one of synthetic-histology, kandinsky, pannuke, folder, got camelyon",
    );
  });

  it("require evaluate's model and dataset", () => {
    expect(message(evaluateOptionsSchema.safeParse({ dataset: "ds-0123456789abcdef", batchSize: 0 }))).toBe("model: required (a model id)");
    const one = { nproc: 1, nnodes: 1, nodeRank: 0 };
    expect(evaluateOptionsSchema.parse({ model: " m-0123456789abcdef ", dataset: "ds-0123456789abcdef", batchSize: "4", ...one })).toEqual({ model: "m-0123456789abcdef", dataset: "ds-0123456789abcdef", batchSize: 4, ...one });
    expect(message(evaluateOptionsSchema.safeParse({ model: "m-0123456789abcdef", dataset: "ds-0123456789abcdef", batchSize: 0, ...one, nproc: "0" }))).toBe("nproc: must be a positive integer, got 0");
  });

  it("check the global options", () => {
    expect(globalOptionsSchema.parse({ workspace: "runs/x", device: "cpu" })).toMatchObject({ workspace: "runs/x", device: "cpu", json: false });
    expect(message(globalOptionsSchema.safeParse({ workspace: "w", device: "gpu" }))).toBe("device: must be one of auto, cpu, cuda, got gpu");
    expect(message(globalOptionsSchema.safeParse({ workspace: " ", device: "cpu" }))).toBe("workspace: must not be empty");
  });
});

describe("predict and probe options", () => {
  const base = { model: "nuclei-prod", input: "tiles", tileSize: 0, tileBatch: 0 };
  it("take a model alias and tiling, and name what is wrong", () => {
    expect(predictOptionsSchema.parse({ ...base, tileOverlap: "0.5" })).toMatchObject({ model: "nuclei-prod", tileOverlap: 0.5, probabilities: false });
    expect(message(predictOptionsSchema.safeParse({ ...base, tileOverlap: "0.95" }))).toBe("tileOverlap: must be a number between 0 and 0.9, got 0.95");
    expect(message(predictOptionsSchema.safeParse({ ...base, input: undefined }))).toBe("input: required (an image file or a folder of them)");
    expect(message(predictOptionsSchema.safeParse({ ...base, tileSize: "9000" }))).toBe("tileSize: must be at most 8192, got 9000");
  });

  it("probe takes any attack of the registry by name (its options are the attack module's)", () => {
    expect(probeOptionsSchema.parse({ ...base, attack: "segpgd" }).attack).toBe("segpgd");
    expect(message(probeOptionsSchema.safeParse({ ...base, attack: "deepfool" }))).toMatch(/^attack: must be one of fgsm, pgd/);
  });
});
