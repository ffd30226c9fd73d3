// The spec's data sources: each parses, paths resolve against the spec file, errors name
// the field; sweeps; the presets (paper on a PanNuke folder).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planExperiment } from "./plan.js";
import { loadSpec, parseSpec, specDataRoots, specDataSource } from "./spec.js";

const dir = mkdtempSync(join(tmpdir(), "robustseg-spec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REST = `
training: { epochs: 1 }
methodOne: { steps: 1 }
methodTwo: {}
evaluation: { attack: { steps: 1 } }
`;

function spec(name: string, data: string, extra = ""): string {
  const sub = join(dir, "specs");
  mkdirSync(sub, { recursive: true });
  const file = join(sub, name);
  writeFileSync(file, `data: ${data}\n${REST}${extra}`);
  return file;
}

for (const d of ["data/tiles/images", "data/tiles/masks", "data/pn/Fold 1", "data/pn/Fold 2", "data/pn/Fold 3", "data/pn/extra"]) mkdirSync(join(dir, d), { recursive: true });

describe("data sources in the spec", () => {
  it("kandinsky: defaults and labeling", async () => {
    const s = await loadSpec({ file: spec("k.yaml", "{ source: kandinsky, labeling: colour, concept: contains a blue square, maxObjects: 4 }") });
    expect(specDataSource(s)).toEqual({
      source: "kandinsky", tileSize: 64, numTrain: 160, numValidation: 32, numTest: 48, seed: 0, labeling: "colour",
      concept: "contains a blue square", minObjects: undefined, maxObjects: 4,
    });
    await expect(loadSpec({ file: spec("k2.yaml", "{ source: kandinsky, labeling: size }") })).rejects.toThrow(
      "k2.yaml: data.labeling: must be one of shape, colour, shape-and-colour",
    );
  });

  it("folder: the path resolves against the spec file; fractions default to 0.2; the worker may read that folder", async () => {
    const s = await loadSpec({ file: spec("f.yaml", "{ source: folder, path: ../data/tiles, classNames: [bg, nucleus], tileSize: 32, fit: resize }") });
    const src = specDataSource(s);
    expect(src).toMatchObject({ source: "folder", path: join(dir, "data/tiles"), validationFraction: 0.2, testFraction: 0.2, tileSize: 32, fit: "resize" });
    expect(specDataRoots(s)).toEqual([join(dir, "data/tiles")]);
  });

  it("folder: errors name the field", async () => {
    await expect(loadSpec({ file: spec("f1.yaml", "{ source: folder, path: ../data/missing }") })).rejects.toThrow(
      `f1.yaml: data.path: no such folder: ${join(dir, "data/missing")}`,
    );
    await expect(loadSpec({ file: spec("f2.yaml", "{ source: folder }") })).rejects.toThrow("data.path: required");
    await expect(loadSpec({ file: spec("f3.yaml", "{ source: folder, path: ../data/tiles, testFraction: 1.5 }") })).rejects.toThrow(
      "data.testFraction: must be in [0, 1]",
    );
    await expect(loadSpec({ file: spec("f4.yaml", "{ source: folder, path: ../data/tiles, trainPath: ../data/tiles }") })).rejects.toThrow(
      "data.path: set either path",
    );
    await expect(loadSpec({ file: spec("f5.yaml", "{ source: folder, trainPath: ../data/tiles, testPath: ../data/tiles }") })).rejects.toThrow(
      "data.validationPath: required",
    );
    // Fractions that leave nothing to train, or fit without a tile size, are the worker's to refuse (ValidatePlan).
    await expect(loadSpec({ file: spec("f6.yaml", "{ source: folder, path: ../data/tiles, fit: resize }") })).resolves.toMatchObject({ data: { fit: "resize" } });
  });

  it("pannuke: folds below path (names or numbers), relative to the spec file; --data-path relative to the current directory", async () => {
    const s = await loadSpec({ file: spec("p.yaml", "{ source: pannuke, path: ../data/pn, trainFolds: [1, extra], testFolds: Fold 3, fit: crop, maxImagesPerSplit: 5 }") });
    expect(specDataSource(s)).toEqual({
      source: "pannuke",
      trainFolds: [join(dir, "data/pn/Fold 1"), join(dir, "data/pn/extra")],
      validationFolds: [join(dir, "data/pn/Fold 2")],
      testFolds: [join(dir, "data/pn/Fold 3")],
      tileSize: 256,
      fit: "crop",
      maxImagesPerSplit: 5,
    });
    await expect(loadSpec({ file: spec("p2.yaml", "{ source: pannuke, path: ../data/pn, validationFolds: [Fold 9] }") })).rejects.toThrow(
      `data.validationFolds[0]: no such folder: ${join(dir, "data/pn/Fold 9")}`,
    );
  });

  it("the paper preset runs on the PanNuke folder given with --data-path (Fold 1/2/3 = train/validation/test)", async () => {
    await expect(loadSpec({ preset: "paper" })).rejects.toThrow("data.path: required (the folder of the PanNuke folds; --data-path)");
    const s = await loadSpec({ preset: "paper", overrides: { data: { path: join(dir, "data/pn") } } });
    expect(specDataSource(s)).toMatchObject({ trainFolds: [join(dir, "data/pn/Fold 1")], validationFolds: [join(dir, "data/pn/Fold 2")], testFolds: [join(dir, "data/pn/Fold 3")], tileSize: 256 });
    expect(s.sweeps).toHaveLength(1);
    expect(planExperiment(s).filter((st) => st.kind === "sweep")).toHaveLength(4);
  });

  it("an unknown source names the choices", () => {
    expect(() => parseSpec({ data: { source: "camelyon" }, training: { epochs: 1 }, methodOne: { steps: 1 }, methodTwo: {}, evaluation: { attack: { steps: 1 } } })).toThrow(
      "data.source: must be one of synthetic-histology, kandinsky, pannuke, folder",
    );
  });
});

describe("sweeps in the spec", () => {
  it("parses models, attack, sorted ε and protocol; errors name the field", async () => {
    const s = await loadSpec({
      file: spec("s.yaml", "{ source: synthetic-histology }", "sweeps:\n  - { model: all, attack: { method: cospgd, target: untargeted }, epsilons: [0.02, 0, 0.01] }\n"),
    });
    expect(s.sweeps[0]).toEqual({ model: "all", attack: { method: "cospgd", steps: 10, randomStart: false, seed: 0, target: "untargeted" }, epsilons: [0, 0.01, 0.02], protocol: "white-box" });
    expect(planExperiment(s).filter((st) => st.kind === "sweep").map((st) => st.id)).toEqual(["sweep-1-M1", "sweep-1-M2", "sweep-1-M3", "sweep-1-M4"]);
    await expect(loadSpec({ file: spec("s2.yaml", "{ source: synthetic-histology }", "sweeps: [{ epsilons: [0, 2] }]\n") })).rejects.toThrow(
      "sweeps[0].epsilons[1]: must be in [0, 1]",
    );
    await expect(loadSpec({ file: spec("s3.yaml", "{ source: synthetic-histology }", "sweeps: [{ model: M5, epsilons: [0] }]\n") })).rejects.toThrow(
      "sweeps[0].model: must be one of M1, M2, M3, M4, PGD-AT, SegPGD-AT, all",
    );
  });
});
