// Model backends from the command line with the real worker: `info` lists them, `run` refuses a
// bad model spec in one line naming the spec's field before any stage, `run` and `train` accept
// and refuse the same model specs, and `export` writes each format atomically.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateExperimentPlan } from "../ts/experiment/validate-plan.js";
import { loadSpec, SpecError } from "../ts/experiment/spec.js";
import type { CreateDatasetOutcome } from "../ts/ops/create-dataset.js";
import type { ExportOutcome } from "../ts/ops/export-model.js";
import type { TrainOutcome } from "../ts/ops/train-model.js";
import type { BackendDescription } from "../ts/ops/worker-info.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { cliFor } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-backends-");
const workspace = join(dir, "workspace");
let worker: SupervisedWorker;
const { cli, json } = cliFor(() => worker);
let ids: Record<string, string>;

beforeAll(async () => {
  worker = await spawnWorker({ workspace, device: "cpu" });
  const created = await json<CreateDatasetOutcome>(["dataset", "create", "--tile-size", "32", "--train", "8", "--validation", "4", "--test", "4", "--seed", "11"]);
  ids = Object.fromEntries(created.datasets.map((d) => [d.split, d.id]));
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const REST = `
name: tiny-backend
data: { source: synthetic-histology, tileSize: 32, train: 8, validation: 4, test: 4, seed: 12 }
training: { epochs: 1, batchSize: 8, learningRate: 0.01, augment: false }
methodOne: { steps: 1 }
methodTwo: { strategy: greedy }
evaluation: { attack: { steps: 1 } }
`;

function specFile(name: string, model: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `${REST}model: ${model}\n`);
  return path;
}

const datasetsInWorkspace = () => (existsSync(join(workspace, "datasets")) ? readdirSync(join(workspace, "datasets")).length : 0);

describe("robustseg info", () => {
  it("--json lists unet, smp and monai with their architectures and defaults", async () => {
    const info = await json<{ backends: BackendDescription[] }>(["info"]);
    const byName = Object.fromEntries(info.backends.map((b) => [b.name, b]));
    for (const name of ["unet", "smp", "monai"]) {
      expect(byName[name]?.available, `${name}: ${byName[name]?.unavailableReason}`).toBe(true);
      expect(byName[name]?.known).toBe(true);
      expect(Object.keys(byName[name]?.defaults ?? {}).length).toBeGreaterThan(0);
    }
    expect(byName.smp?.architectures).toEqual(expect.arrayContaining(["Unet", "FPN"]));
    expect(byName.smp?.encoders).toContain("resnet18");
    expect(byName.monai?.architectures).toEqual(expect.arrayContaining(["BasicUNet", "UNet"]));
  });

  it("prints each backend with its architectures", async () => {
    const { code, stdout } = await cli(["info"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^smp: .*\n +available +yes/m);
    expect(stdout).toMatch(/^ +architectures +.*BasicUNet/m);
  });
});

describe("a bad model spec fails before any stage runs, in one line naming the field", () => {
  it.each([
    ["unknown backend", "{ backend: keras }", "model.backend: must be one of unet, smp, monai"],
    ["unknown smp architecture", "{ backend: smp, architecture: UNetX }", "model.architecture: "],
    ["unknown smp encoder", "{ backend: smp, encoder: resnet1000 }", "model.encoder: "],
    ["pretrained weights (a download)", "{ backend: smp, encoder: resnet18, encoderWeights: imagenet }", "model.encoderWeights: "],
    ["unknown MONAI network", "{ backend: monai, architecture: VNet }", "model.architecture: "],
    ["out-of-range U-Net width", "{ depth: 2, baseWidth: 100000 }", "model.baseWidth: "],
    ["out-of-range U-Net depth", "{ depth: 9, baseWidth: 4 }", "model.depth: "],
  ])("%s", async (name, model, field) => {
    const spec = specFile(name.replace(/\W+/g, "-"), model);
    const out = join(dir, "runs", name.replace(/\W+/g, "-"));
    const before = datasetsInWorkspace();
    const { code, stdout, stderr } = await cli(["run", spec, "--out", out]);
    expect(stderr.split("\n").filter((l) => l !== "")).toHaveLength(1);
    expect(stderr.startsWith(`error: ${spec}: ${field}`)).toBe(true);
    expect(stdout).toBe("");
    expect(code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(datasetsInWorkspace()).toBe(before);
  });
});

// The same model, as a spec's `model:` block and as `train`'s options.
const AGREEMENT: [string, string, string[], string | null][] = [
  ["unet", "{ depth: 2, baseWidth: 4 }", ["--depth", "2", "--base-width", "4"], null],
  ["unet too wide", "{ depth: 2, baseWidth: 100000 }", ["--depth", "2", "--base-width", "100000"], "baseWidth"],
  ["unet too deep", "{ depth: 9 }", ["--depth", "9"], "depth"],
  ["smp", "{ backend: smp, architecture: Unet, encoder: resnet18 }", ["--backend", "smp", "--architecture", "Unet", "--encoder", "resnet18"], null],
  ["smp encoder", "{ backend: smp, encoder: resnet1000 }", ["--backend", "smp", "--encoder", "resnet1000"], "encoder"],
  ["smp architecture", "{ backend: smp, architecture: UNetX }", ["--backend", "smp", "--architecture", "UNetX"], "architecture"],
  ["monai", "{ backend: monai, architecture: BasicUNet, channels: [4, 4, 8, 16, 32, 4] }", ["--backend", "monai", "--architecture", "BasicUNet", "--channels", "4,4,8,16,32,4"], null],
  ["monai network", "{ backend: monai, architecture: VNet }", ["--backend", "monai", "--architecture", "VNet"], "architecture"],
];
const FLAG: Record<string, string> = { baseWidth: "--base-width", depth: "--depth", encoder: "--encoder", architecture: "--architecture" };

describe("run and train accept and refuse the same model specs", () => {
  it.each(AGREEMENT)("%s", async (name, model, flags, refusedField) => {
    // run: the spec, then the worker's plan check (what `run` does before its first stage).
    const file = specFile(`agree-${name.replace(/\W+/g, "-")}`, model);
    const runVerdict = await loadSpec({ file })
      .then((spec) => validateExperimentPlan(worker.client, spec, { file }))
      .then(
        () => null,
        (e: unknown) => {
          expect(e).toBeInstanceOf(SpecError);
          return (e as SpecError).path;
        },
      );
    // train: the same model from the command line, one step on the tiny set.
    const { code, stdout, stderr } = await cli([
      "train", "--train", ids.train as string, "--validation", ids.validation as string,
      "--epochs", "1", "--batch-size", "8", "--no-augment", ...flags, "--json",
    ]);
    const trainVerdict = code === 0 ? null : stderr;
    expect(runVerdict === null, `run: ${runVerdict}; train: ${trainVerdict}`).toBe(trainVerdict === null);
    if (refusedField === null) {
      const trained = JSON.parse(stdout) as TrainOutcome;
      expect(trained.model.epochs).toHaveLength(1);
    } else {
      expect(runVerdict).toBe(`model.${refusedField}`);
      expect(stderr).toMatch(new RegExp(`^error: ${FLAG[refusedField]}: `));
      expect(code).toBe(2);
    }
  });
});

describe("the example specs", () => {
  const examples = join(import.meta.dirname, "..", "examples");
  it.each(readdirSync(examples).filter((f) => f.endsWith(".yaml")))("%s passes the spec schema and the worker's plan check", async (name) => {
    const file = join(examples, name);
    const spec = await loadSpec({ file });
    const check = await validateExperimentPlan(worker.client, spec, { file });
    expect(check?.classNames[0]).toBe("background");
    expect(check?.model?.backend).toBe(spec.model.backend);
  });
});

describe("robustseg export", () => {
  let modelId: string;

  beforeAll(async () => {
    const trained = await json<TrainOutcome>(["train", "--train", ids.train as string, "--validation", ids.validation as string, "--epochs", "1", "--batch-size", "8", "--depth", "2", "--base-width", "4"]);
    modelId = trained.model.id;
  });

  it.each(["onnx", "torchscript", "safetensors"])("%s: --out is written whole; --json gives path, size and sha256", async (format) => {
    const out = join(dir, `model.${format}`);
    const r = await json<ExportOutcome>(["export", modelId, "--format", format, "--out", out]);
    expect(r.path).toBe(out);
    const bytes = readFileSync(out);
    expect(r.sizeBytes).toBe(bytes.length);
    expect(r.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(r.opset === null).toBe(format !== "onnx");
    expect(r.classNames[0]).toBe("background");
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("an existing folder as --out gets the worker's file name; an unknown model is NOT_FOUND", async () => {
    const r = await json<ExportOutcome>(["export", modelId, "--format", "safetensors", "--out", dir]);
    expect(r.path.startsWith(`${dir}/`)).toBe(true);
    expect(r.path).toContain(modelId);
    const missing = await cli(["export", "m-0000000000000000", "--out", join(dir, "none.onnx")]);
    expect(missing.stderr).toMatch(/^error: .*m-0000000000000000.*not found/);
    expect(missing.code).toBe(1);
    expect(existsSync(join(dir, "none.onnx"))).toBe(false);
  });

  it("--help says what each format is for", async () => {
    const { code, stdout } = await cli(["export", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/onnx +ONNX graph/);
    expect(stdout).toMatch(/torchscript +TorchScript/);
    expect(stdout).toMatch(/safetensors +the weights/);
  });
});
