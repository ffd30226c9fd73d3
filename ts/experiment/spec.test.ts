// Experiment specs: presets, files over presets, errors that name the field path and the file.
import { mkdirSync, writeFileSync } from "node:fs";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { combinedEpochs, DEMO_SPEC, loadSpec, mergeSpec, parseSpec, parseSpecText, SpecError, specForJson, stageConcurrency } from "./spec.js";

const dir = scratchDir("robustseg-spec-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function specError(p: Promise<unknown>): Promise<SpecError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpecError);
  return error as SpecError;
}

describe("presets", () => {
  it("demo parses with its documented parameters and M4's epochs = round(E/3)", async () => {
    const spec = await loadSpec({ preset: "demo" });
    expect(spec.data).toMatchObject({ source: "synthetic-histology", tileSize: 64 });
    expect(spec.methodTwo.strategy).toEqual({ kind: "surrogate" });
    expect(spec.evaluation.attack).toMatchObject({ method: "pgd", epsilon: 0.01, target: { class: "background" } });
    expect(spec.evaluation.protocols).toEqual(["white-box", "transfer"]);
    expect(combinedEpochs(spec)).toBe(Math.round(spec.training.epochs / 3));
  });

  it("paper needs the PanNuke folder and checks its folds exist", async () => {
    const e = await specError(loadSpec({ preset: "paper", overrides: { data: { path: "/data/pannuke" } } }));
    expect(e.message).toBe("data.trainFolds[0]: no such folder: /data/pannuke/Fold 1");
  });

  it("spec.json reads back to the same spec", async () => {
    const spec = await loadSpec({ preset: "demo" });
    expect(parseSpec(JSON.parse(JSON.stringify(specForJson(spec))))).toEqual(spec);
  });
});

describe("spec files", () => {
  it("a YAML file over the demo preset overrides only what it names", async () => {
    const path = file("small.yaml", "name: small\ntraining:\n  epochs: 4\nmethodTwo:\n  strategy: beam(3)\n");
    const spec = await loadSpec({ file: path, preset: "demo" });
    expect(spec.name).toBe("small");
    expect(spec.training.epochs).toBe(4);
    expect(spec.training.batchSize).toBe(16);
    expect(spec.methodTwo.strategy).toEqual({ kind: "beam", width: 3 });
    expect(combinedEpochs(spec)).toBe(1);
  });

  it("JSON works too, with defaults filled in", async () => {
    const path = file(
      "s.json",
      JSON.stringify({
        data: { source: "synthetic-histology", tileSize: 32 },
        training: { epochs: 6, combinedEpochs: 5 },
        methodOne: { steps: 2 },
        methodTwo: { strategy: { kind: "beam", width: 2 } },
        evaluation: { attack: { steps: 3, target: "untargeted" }, protocols: ["transfer"] },
      }),
    );
    const spec = await loadSpec({ file: path });
    expect(spec.methodOne).toMatchObject({ epsilon: 0.01, budget: "per-layer" });
    expect(spec.evaluation.attack.target).toBe("untargeted");
    expect(combinedEpochs(spec)).toBe(5);
  });

  it.each([
    ["negative epochs", "training:\n  epochs: -3\n", "training.epochs: must be a positive integer"],
    ["fractional epochs", "training:\n  epochs: 2.5\n", "training.epochs: must be a positive integer"],
    ["unknown strategy", "methodTwo:\n  strategy: random\n", 'methodTwo.strategy: unknown strategy "random": must be exhaustive, greedy, greedy(N), beam(k), surrogate or surrogate(B)'],
    ["beam width 0", "methodTwo:\n  strategy: beam(0)\n", 'methodTwo.strategy: unknown strategy "beam(0)": must be exhaustive, greedy, greedy(N), beam(k), surrogate or surrogate(B)'],
    ["unknown attack", "evaluation:\n  attack:\n    method: deepfool\n", "evaluation.attack.method: must be one of fgsm, pgd, segpgd, cospgd"],
    ["epsilon above 1", "methodOne:\n  epsilon: 2\n", "methodOne.epsilon: must be at most 1 (a fraction of the pixel range)"],
    ["unknown field", "training:\n  epoch: 3\n", "training: unknown field epoch"],
    ["bad protocol", "evaluation:\n  protocols: [black-box]\n", "evaluation.protocols[0]: must be one of white-box, transfer, worst-case"],
    ["unknown source", "data:\n  source: imagenet\n", "data.source: must be one of synthetic-histology, kandinsky, pannuke, folder"],
    ["pannuke", "data:\n  source: pannuke\n  path: /x\n", "data.trainFolds[0]: no such folder: /x/Fold 1"],
    ["unknown backend", "model:\n  backend: keras\n", "model.backend: must be one of unet, smp, monai"],
    ["unet field on smp", "model: { backend: smp, depth: 3 }\n", "model: unknown field depth"],
    ["other architecture without backend", "model: { architecture: Unet, encoder: resnet18 }\n", "model.architecture: must be unet (the unet backend has one architecture; for others set backend: smp or monai)"],
    ["depth not an integer", "model: { depth: two }\n", "model.depth: must be a positive integer"],
    ["seed of the evaluation attack", "evaluation:\n  attack: { steps: 1, seed: -1 }\n", "evaluation.attack.seed: must be a non-negative integer"],
  ])("%s: the error names the file and the field path", async (_what, text, message) => {
    const path = file("bad.yaml", text);
    const e = await specError(loadSpec({ file: path, preset: "demo" }));
    expect(e.message).toBe(`${path}: ${message}`);
  });

  it("a required field missing without a preset", async () => {
    const path = file("partial.yaml", "data:\n  source: synthetic-histology\nmethodOne: {steps: 1}\nmethodTwo: {}\nevaluation: {attack: {steps: 1}}\n");
    const e = await specError(loadSpec({ file: path }));
    expect(e.message).toBe(`${path}: training: required`);
  });

  it("bad YAML, a missing file and a non-mapping are clear errors", async () => {
    const bad = file("broken.yaml", "training: [epochs: 3\n");
    expect((await specError(loadSpec({ file: bad }))).message).toMatch(new RegExp(`^${bad}: not valid YAML or JSON: `));
    const missing = join(dir, "nope.yaml");
    expect((await specError(loadSpec({ file: missing }))).message).toBe(`${missing}: cannot read the spec file (ENOENT)`);
    const list = file("list.yaml", "- 1\n- 2\n");
    expect((await specError(loadSpec({ file: list }))).message).toBe(`${list}: must be a mapping (YAML) or an object (JSON) at the top level`);
    expect((await specError(loadSpec({}))).message).toBe("give a spec file or --preset demo|paper");
  });

  it("mergeSpec merges objects and replaces the data block when the source changes", () => {
    expect(mergeSpec({ a: { b: 1, c: 2 }, d: [1] }, { a: { c: 3 }, d: [2] })).toEqual({ a: { b: 1, c: 3 }, d: [2] });
    const merged = mergeSpec(DEMO_SPEC, { data: { source: "folder", path: "/x" } }) as { data: unknown };
    expect(merged.data).toEqual({ source: "folder", path: "/x" });
    expect(() => parseSpecText("a: [", "f.yaml")).toThrow(SpecError);
  });
});

describe("the model block: one backend module each", () => {
  const rest = "data: { source: synthetic-histology }\ntraining: { epochs: 1 }\nmethodOne: { steps: 1 }\nmethodTwo: {}\nevaluation: { attack: { steps: 1 } }\n";

  it("the original form (no backend) is the U-Net, with the control plane's defaults", async () => {
    const s = await loadSpec({ file: file("u.yaml", `${rest}model: { architecture: unet, depth: 2 }\n`) });
    expect(s.model).toEqual({ backend: "unet", architecture: "unet", depth: 2, baseWidth: 16, upsampling: "bilinear", inputBits: 0 });
    const bare = await loadSpec({ file: file("u0.yaml", rest) });
    expect(bare.model).toEqual({ backend: "unet", architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear", inputBits: 0 });
  });

  it("smp and monai blocks parse; a weights file resolves against the spec file and must exist", async () => {
    const missing = file("smp-missing.yaml", `${rest}model: { backend: smp, weightsFile: w/none.pt }\n`);
    expect((await specError(loadSpec({ file: missing }))).message).toBe(`${missing}: model.weightsFile: no such file: ${join(dir, "w/none.pt")}`);
    mkdirSync(join(dir, "w"), { recursive: true });
    writeFileSync(join(dir, "w/enc.safetensors"), "");
    const smp = await loadSpec({ file: file("smp.yaml", `${rest}model: { backend: smp, architecture: FPN, encoder: resnet18, weightsFile: w/enc.safetensors }\n`) });
    expect(smp.model).toEqual({ backend: "smp", architecture: "FPN", encoder: "resnet18", weightsFile: join(dir, "w/enc.safetensors") });
    const monai = await loadSpec({ file: file("monai.yaml", `${rest}model: { backend: monai, architecture: UNet, channels: [8, 16, 32], strides: [2, 2], numResUnits: 1 }\n`) });
    expect(monai.model).toEqual({ backend: "monai", architecture: "UNet", channels: [8, 16, 32], strides: [2, 2], numResUnits: 1 });
  });

  it("over a preset, another backend replaces the preset's U-Net block instead of merging into it", async () => {
    const s = await loadSpec({ preset: "demo", file: file("over.yaml", "model: { backend: smp, encoder: resnet18 }\n") });
    expect(s.model).toEqual({ backend: "smp", encoder: "resnet18" });
  });

  it("ranges are the worker's: a width the worker refuses passes the spec's structure check", async () => {
    const s = await loadSpec({ file: file("wide.yaml", `${rest}model: { depth: 9, baseWidth: 100000 }\n`) });
    expect(s.model).toMatchObject({ depth: 9, baseWidth: 100000 });
  });

  it("the evaluation and sweep attacks take a seed (default 0)", async () => {
    const s = await loadSpec({
      file: file("seed.yaml", `${rest.replace("attack: { steps: 1 }", "attack: { steps: 1, randomStart: true, seed: 7 }")}sweeps: [{ epsilons: [0.01], attack: { seed: 3 } }]\n`),
    });
    expect(s.evaluation.attack).toMatchObject({ randomStart: true, seed: 7 });
    expect(s.sweeps[0]?.attack.seed).toBe(3);
    const plain = await loadSpec({ preset: "demo" });
    expect(plain.evaluation.attack.seed).toBe(0);
    expect(plain.sweeps[0]?.attack.seed).toBe(0);
  });

  it("distributed: training's and the stages' own, each checked", async () => {
    const s = await loadSpec({ preset: "demo", file: file("dist.yaml", "distributed: { nprocPerNode: 2 }\ntraining: { epochs: 2, distributed: { nprocPerNode: 4, backend: gloo } }\n") });
    expect(s.distributed).toEqual({ nprocPerNode: 2, nnodes: 1, nodeRank: 0 });
    expect(s.training.distributed).toMatchObject({ nprocPerNode: 4, backend: "gloo" });
    expect((await loadSpec({ preset: "demo" })).distributed).toBeUndefined();
    await expect(loadSpec({ preset: "demo", file: file("dist2.yaml", "distributed: { nprocPerNode: 2, nnodes: 2 }\n") })).rejects.toThrow(/distributed\.rdzvEndpoint: required with nnodes > 1/);
    await expect(loadSpec({ preset: "demo", file: file("dist3.yaml", "distributed: { nprocPerNode: 1, nnodes: 2, nodeRank: 2, rdzvEndpoint: 'head:29400' }\n") })).rejects.toThrow(/distributed\.nodeRank: must be below nnodes/);
  });

  it("concurrency: 2 stages at once on a CPU worker, 1 on a GPU or with distributed stages, the spec's when it says", async () => {
    const demo = await loadSpec({ preset: "demo" });
    expect([stageConcurrency(demo, "cpu"), stageConcurrency(demo, "cuda"), stageConcurrency(demo, "mps")]).toEqual([2, 1, 1]);
    const three = await loadSpec({ preset: "demo", overrides: { concurrency: 3 } });
    expect([stageConcurrency(three, "cpu"), stageConcurrency(three, "cuda")]).toEqual([3, 3]);
    const sharded = await loadSpec({ preset: "demo", overrides: { distributed: { nprocPerNode: 2 } } });
    expect(stageConcurrency(sharded, "cpu")).toBe(1);
    await expect(loadSpec({ preset: "demo", file: file("conc.yaml", "concurrency: 2\ntraining: { epochs: 2, distributed: { nprocPerNode: 2 } }\n") })).rejects.toThrow(
      /concurrency: must be 1 with distributed stages/,
    );
    await expect(loadSpec({ preset: "demo", file: file("conc0.yaml", "concurrency: 0\n") })).rejects.toThrow(/concurrency: must be a positive integer/);
  });
});
