// Data sources and ε-sweeps from the CLI, with the real worker: the folder source on the real tiles in
// ../shared/data/real (PanNuke breast, CoNSeP), `dataset show`, a PanNuke-layout set of folds
// written here (instance ids past 255 and multiples of 256, an all-zero tile), the ε-sweep
// command, SegPGD/CosPGD through `evaluate --attack`, and a tiny experiment on real tiles with a
// sweep whose curve lands in results.json.
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreateDatasetOutcome } from "../ts/ops/create-dataset.js";
import type { ExperimentResults } from "../ts/experiment/results.js";
import type { SweepOutcome } from "../ts/ops/sweep.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { runCliCaptured, runCliJson } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const REAL = resolve(__dirname, "../../shared/data/real");
const dir = scratchDir("robustseg-data-");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (argv: string[], own = false) => runCliCaptured(argv, own ? {} : { worker });
const json = <T>(argv: string[], own = false) => runCliJson<T>(argv, own ? {} : { worker });

// ---- .npy by hand: header + raw little-endian data ----
function npy(descr: string, shape: number[], data: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  Buffer.from([0x93]).copy(head, 0);
  head.write("NUMPY", 1, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, "latin1"), data]);
}
function float64(values: Float64Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}
function unicode(strings: string[], width: number): Buffer {
  const b = Buffer.alloc(strings.length * width * 4);
  strings.forEach((s, i) => [...s].forEach((ch, j) => b.writeUInt32LE(ch.codePointAt(0) ?? 0, (i * width + j) * 4)));
  return b;
}

/** A fold of 3 tiles 16×16: instance ids 300, 256 (a multiple of 256), 512, 1000; tile 1 all zero. */
function writeFold(folder: string, types: string[]): void {
  mkdirSync(folder, { recursive: true });
  const n = 3;
  const s = 16;
  const images = new Float64Array(n * s * s * 3).map((_, i) => (i * 7) % 256);
  const masks = new Float64Array(n * s * s * 6);
  const set = (img: number, row: number, channel: number, id: number) => {
    for (let x = 0; x < s; x++) masks[((img * s + row) * s + x) * 6 + channel] = id;
  };
  set(0, 0, 0, 300); // neoplastic, id > 255
  set(0, 1, 0, 300);
  set(0, 2, 1, 256); // inflammatory, id 256 (0 after a uint8 cast)
  set(0, 3, 4, 512); // epithelial, id 512
  set(2, 0, 2, 1); // connective
  set(2, 1, 3, 1000); // dead
  for (const img of [0, 2]) for (let row = 4; row < s; row++) set(img, row, 5, 1); // background channel: not read
  writeFileSync(join(folder, "images.npy"), npy("<f8", [n, s, s, 3], float64(images)));
  writeFileSync(join(folder, "masks.npy"), npy("<f8", [n, s, s, 6], float64(masks)));
  writeFileSync(join(folder, "types.npy"), npy("<U6", [n], unicode(types, 6)));
}

describe("dataset create / show from files", () => {
  it("loads the real PanNuke breast tiles with --source folder, split by fractions (about 80% background)", async () => {
    const out = await json<CreateDatasetOutcome>([
      "dataset", "create", "--source", "folder", "--path", join(REAL, "pannuke_breast"),
      "--class-names", "background,neoplastic,non-neoplastic", "--validation-fraction", "0.2", "--test-fraction", "0.2",
    ]);
    expect(out.datasets.map((d) => [d.split, d.numImages, d.height])).toEqual([["train", 9, 256], ["validation", 3, 256], ["test", 3, 256]]);
    expect(out.datasets[0]?.classNames).toEqual(["background", "neoplastic", "non-neoplastic"]);
    const all = out.datasets.reduce((acc, d) => acc.map((v, k) => v + (d.classPixelCounts[k] ?? 0)), [0, 0, 0]);
    expect(all.reduce((a, b) => a + b, 0)).toBe(15 * 256 * 256);
    expect(all[0]! / (15 * 256 * 256)).toBeGreaterThan(0.75);
    expect(all[0]! / (15 * 256 * 256)).toBeLessThan(0.86);

    const test = out.datasets[2]!;
    const shown = await json<{ id: string; classShares: number[]; source: string; provenance: { recipe: { path: string } } }>(["dataset", "show", test.id]);
    expect(shown).toMatchObject({ id: test.id, source: "folder", classShares: test.classShares });
    expect(shown.provenance.recipe.path).toBe(realpathSync(join(REAL, "pannuke_breast")));
    const text = await cli(["dataset", "show", test.id]);
    expect(text.stdout).toMatch(/class pixel shares/);
    expect(text.stdout).toMatch(/background/);
  });

  it("loads CoNSeP (5 classes) resized to 64 through a spawned worker limited to that folder", async () => {
    const args = [
      "--workspace", join(dir, "own-workspace"), "--device", "cpu",
      "dataset", "create", "--source", "folder", "--path", join(REAL, "consep"),
      "--class-names", "background,other,inflammatory,epithelial,spindle", "--tile-size", "64", "--fit", "resize",
    ];
    // The split's defaults are a spec's (validation 0.2, test 0.2): three splits of the 4 tiles.
    const split = await json<CreateDatasetOutcome>(args, true);
    expect(split.datasets.map((d) => d.split)).toEqual(["train", "validation", "test"]);
    expect(split.datasets.reduce((n, d) => n + d.numImages, 0)).toBe(4);
    const out = await json<CreateDatasetOutcome>([...args, "--validation-fraction", "0", "--test-fraction", "0"], true);
    expect(out.datasets).toHaveLength(1);
    const d = out.datasets[0]!;
    expect([d.split, d.numImages, d.height, d.width, d.classNames.length]).toEqual(["train", 4, 64, 64, 5]);
    expect(d.classShares[0]).toBeGreaterThan(0.7);
    expect(d.classShares[0]).toBeLessThan(0.85);
  });

  it("names the field for a missing folder and for a mask value beyond the classes", async () => {
    const missing = await cli(["dataset", "create", "--source", "folder", "--path", join(dir, "nope"), "--class-names", "a,b"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--path: no such folder/);
    const few = await cli(["dataset", "create", "--source", "folder", "--path", join(REAL, "consep"), "--class-names", "background,nucleus"]);
    expect(few.code).not.toBe(0);
    expect(few.stderr).toMatch(/mask|class/i);
  });

  it("loads PanNuke-layout folds written by the test with the exact labels and tissue tags", async () => {
    const root = join(dir, "pannuke");
    writeFold(join(root, "Fold 1", "images", "fold1"), ["Breast", "Colon", "Breast"]);
    writeFold(join(root, "Fold 2"), ["Lung", "Lung", "Lung"]);
    writeFold(join(root, "Fold 3"), ["Kidney", "Breast", "Kidney"]);
    const out = await json<CreateDatasetOutcome>(["dataset", "create", "--source", "pannuke", "--path", root]);
    expect(out.datasets.map((d) => d.split)).toEqual(["train", "validation", "test"]);
    for (const d of out.datasets) {
      expect(d.classNames).toHaveLength(6);
      expect(d.classNames[0]).toBe("background");
      // 3 tiles × 256 px: neoplastic 32 (id 300), inflammatory 16 (id 256), connective 16, dead 16 (id 1000), epithelial 16 (id 512).
      expect(d.classPixelCounts).toEqual([768 - 96, 32, 16, 16, 16, 16]);
      expect(d.tagName).toBe("tissue");
    }
    expect(out.datasets[0]?.tagCounts).toEqual({ Breast: 2, Colon: 1 });
    expect(out.datasets[2]?.tagCounts).toEqual({ Kidney: 2, Breast: 1 });
    const shown = await cli(["dataset", "show", out.datasets[0]!.id]);
    expect(shown.stdout).toMatch(/image tags \(tissue\)/);
    expect(shown.stdout).toMatch(/Breast\s+2/);
  });
});

describe("sweeps and the field's attacks from the CLI", () => {
  let model = "";
  let test = "";
  beforeAll(async () => {
    const data = await json<CreateDatasetOutcome>(["dataset", "create", "--tile-size", "32", "--train", "8", "--validation", "4", "--test", "4", "--seed", "3"]);
    test = data.datasets[2]!.id;
    const trained = await json<{ model: { id: string } }>([
      "train", "--train", data.datasets[0]!.id, "--validation", data.datasets[1]!.id, "--epochs", "2", "--batch-size", "4", "--depth", "2", "--base-width", "4",
    ]);
    model = trained.model.id;
  }, 120_000);

  it("sweeps ε: one point per ε, ascending, ε = 0 equal to the clean evaluation", async () => {
    const sweep = await json<SweepOutcome>(["sweep", "--model", model, "--dataset", test, "--attack", "pgd", "--epsilons", "0.02,0,0.01", "--steps", "2"]);
    expect(sweep.points.map((p) => p.epsilon)).toEqual([0, 0.01, 0.02]);
    const clean = await json<{ metrics: { pixelAccuracy: number; meanIoU: number }; confusion: number[][] }>(["evaluate", "--model", model, "--dataset", test]);
    expect(sweep.points[0]?.confusion).toEqual(clean.confusion);
    expect(sweep.points[0]?.pixelAccuracy).toBe(clean.metrics.pixelAccuracy);
    expect(sweep.points[0]?.meanIoU).toBe(clean.metrics.meanIoU);
    // The background-targeted attack turns more foreground to background as ε grows.
    expect(sweep.points[2]!.foregroundToBackground!).toBeGreaterThanOrEqual(sweep.points[0]!.foregroundToBackground!);
    const text = await cli(["sweep", "--model", model, "--dataset", test, "--attack", "cospgd", "--epsilons", "0,0.01", "--steps", "2", "--target", "untargeted"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/foreground → background/);
    expect(text.stdout.split("\n").filter((l) => /^\s*0(\.01)?\s/.test(l))).toHaveLength(2);
    const bad = await cli(["sweep", "--model", model, "--dataset", test, "--epsilons", "0,2"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--epsilons: "2" is not a number in \[0, 1\]/);
  });

  it.each([
    ["segpgd", "background"],
    ["segpgd", "untargeted"],
    ["cospgd", "background"],
    ["cospgd", "untargeted"],
  ])("evaluates under %s (%s) from `evaluate --attack`", async (method, target) => {
    const r = await json<{ attack: { method: string }; numImages: number; foregroundToBackground: number | null }>([
      "evaluate", "--model", model, "--dataset", test, "--attack", method, "--steps", "2", "--target", target,
    ]);
    expect(r.attack.method).toBe(method);
    expect(r.numImages).toBe(4);
  });

  it("lists SegPGD and CosPGD in `attack --help`", async () => {
    const help = await cli(["attack", "--help"]);
    expect(help.stdout).toMatch(/segpgd/);
    expect(help.stdout).toMatch(/cospgd/);
  });
});

describe("a tiny experiment on real tiles with a sweep", () => {
  it("runs the four models on the PanNuke breast tiles and writes the sweep into results.json and sweeps/", async () => {
    const specDir = join(dir, "specs");
    mkdirSync(specDir, { recursive: true });
    const spec = join(specDir, "real.yaml");
    writeFileSync(
      spec,
      `name: real-tiny
data: { source: folder, path: ${join(REAL, "pannuke_breast")}, classNames: [background, neoplastic, non-neoplastic], validationFraction: 0.2, testFraction: 0.2, tileSize: 32, fit: resize }
model: { depth: 2, baseWidth: 4 }
training: { epochs: 2, batchSize: 4, augment: false }
methodOne: { steps: 2 }
methodTwo: { strategy: greedy }
evaluation: { attack: { steps: 2 }, protocols: [white-box] }
sweeps:
  - { model: M1, attack: { method: pgd, steps: 2, target: background }, epsilons: [0, 0.01, 0.02] }
`,
    );
    const out = join(dir, "run-real");
    const r = await json<ExperimentResults>(["run", spec, "--out", out]);
    expect(r.datasets.find((d) => d.role === "train")?.numImages).toBe(9);
    expect(r.evaluations.filter((e) => e.protocol === "white-box")).toHaveLength(4);
    expect(r.sweeps).toHaveLength(1);
    const sw = r.sweeps[0]!;
    expect(sw.points.map((p) => p.epsilon)).toEqual([0, 0.01, 0.02]);
    const clean = r.evaluations.find((e) => e.model === "M1" && e.protocol === "clean")!;
    const wb = r.evaluations.find((e) => e.model === "M1" && e.protocol === "white-box")!;
    expect(sw.points[0]?.confusion).toEqual(clean.confusion);
    expect(sw.points[1]?.confusion).toEqual(wb.confusion);
    expect(sw.points[1]?.cached).toBe(true); // same inputs as the white-box evaluation
    expect(existsSync(join(out, sw.file))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "results.json"), "utf8")).sweeps[0].points).toHaveLength(3);
    expect(readFileSync(join(out, "tables.md"), "utf8")).toMatch(/ε-sweeps/);
  }, 240_000);
});
