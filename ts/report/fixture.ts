// A hand-made run folder for report tests: results.json with four models, sweeps and a class name
// that needs escaping, figures.json with real (tiny) PNG panels, and a selection-comparison.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import type { ExperimentResults } from "../experiment/results.js";
import { FIGURES_SCHEMA, type FiguresIndex } from "./figures.js";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A valid RGB PNG of one colour. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

export const FIXTURE_CLASSES = ["background", "neoplastic <b>&amp;</b>", "inflammatory"];

export function fixtureResults(runDir: string): ExperimentResults {
  const classNames = FIXTURE_CLASSES;
  const metrics = (acc: number) => ({
    numPixels: 1000,
    pixelAccuracy: acc,
    foregroundAccuracy: acc - 0.3,
    meanIoU: acc - 0.4,
    meanDice: acc - 0.35,
    meanLoss: 1 - acc,
    definedClasses: 3,
    perClass: classNames.map((name, index) => ({ index, name, iou: 0.1 * (index + 1), dice: 0.15 * (index + 1), truthPixels: 100, predictedPixels: 100, truePositives: 10 })),
  });
  const models = ["M1", "M2", "M3", "M4"] as const;
  const attack = { method: "pgd" as const, epsilon: 0.01, steps: 10, seed: 0, target: { class: "background" } };
  return {
    schema: "robustseg.results/v1",
    name: "fixture <run> & \"co\"",
    runDir,
    startedAt: "2025-01-01T00:00:00.000Z",
    finishedAt: "2025-01-01T00:01:00.000Z",
    spec: { name: "fixture", data: { source: "synthetic-histology", seed: 3 }, model: { depth: 2 }, training: { epochs: 3, seed: 4 }, methodOne: { steps: 2 } },
    environment: { cli: "0.1.0", node: "v20", platform: "linux-x64", worker: { version: "0.1.0", device: "cpu", deviceType: "cpu", torch: "2.x", threads: 2 } },
    classNames,
    datasets: (["train", "validation", "test", "D1", "D2", "test-transfer"] as const).map((role) => ({
      id: `ds-${role}`,
      split: "train" as const,
      source: "synthetic-histology",
      numImages: 4,
      height: 32,
      width: 32,
      channels: 3,
      classNames,
      classPixelCounts: [800, 150, 50],
      classShares: [0.8, 0.15, 0.05],
      role,
      madeBy: `made ${role}`,
      reused: false,
    })),
    models: models.map((name, i) => ({
      name,
      id: `m-${name}`,
      trainedOn: ["train"],
      trainDatasetIds: ["ds-train"],
      epochs: name === "M4" ? 1 : 3,
      reused: false,
      numParameters: 1234,
      bestEpoch: 1,
      bestValidationLoss: 0.5,
      history: Array.from({ length: name === "M4" ? 1 : 3 }, (_, e) => ({
        epoch: e + 1,
        trainLoss: 1 - 0.1 * e,
        validationLoss: 0.9 - 0.1 * e - 0.02 * i,
        validationPixelAccuracy: 0.8,
        validationForegroundAccuracy: 0.4,
        validationMeanIoU: 0.3,
        best: e === 0,
      })),
    })),
    evaluations: (["clean", "white-box", "transfer"] as const).flatMap((protocol) =>
      models.map((model, i) => ({
        model,
        modelId: `m-${model}`,
        protocol,
        dataset: protocol === "transfer" ? ("test-transfer" as const) : ("test" as const),
        datasetId: "ds-test",
        attack: protocol === "clean" ? null : attack,
        attackModel: protocol === "clean" ? null : protocol === "white-box" ? model : ("M1" as const),
        numImages: 4,
        numPixels: 1000,
        metrics: metrics(0.9 - 0.01 * i - (protocol === "clean" ? 0 : 0.05)),
        foregroundToBackground: protocol === "clean" ? 0.1 : 0.6,
        confusion: [],
        cached: false,
      })),
    ),
    methodTwo: {
      strategy: "greedy",
      epsilon: 0.01,
      project: false,
      recordFile: "method-two-choices.jsonl",
      aggregateFile: "method-two-aggregate.json",
      scorerCalls: 3,
      candidatesScored: 30,
      cached: false,
      aggregate: {
        images: 4,
        classCount: 3,
        strategies: { greedy: 4 },
        perClass: classNames.map((name, c) => ({ class: c, name, added: 2, removed: 1, skipped: 1, addedShare: 0.5, removedShare: 0.25, skippedShare: 0.25 })),
        imagesChanged: 3,
        supportHistogram: [1, 1, 1, 1],
        topSigns: [],
        meanCleanLoss: 1,
        meanChosenLoss: 0.9,
        meanLossReduction: 0.1,
        maxLossReduction: 0.2,
        meanRelativeLossReduction: 0.1,
        meanNonZeroSigns: 1.5,
        meanCandidatesScored: 7.5,
        totalCandidatesScored: 30,
      },
    },
    sweeps: models.map((model, i) => ({
      id: `sweep-1-${model}`,
      sweep: 0,
      model,
      modelId: `m-${model}`,
      dataset: "test" as const,
      datasetId: "ds-test",
      protocol: "white-box" as const,
      attackModel: model,
      attack: { method: "pgd" as const, steps: 10, target: { class: "background" } },
      classNames,
      file: `sweeps/sweep-1-${model}.json`,
      points: [0, 0.005, 0.01, 0.02].map((epsilon) => ({
        epsilon,
        pixelAccuracy: 0.9 - 5 * epsilon,
        foregroundAccuracy: 0.6 - 10 * epsilon - 0.01 * i,
        meanIoU: 0.5 - 8 * epsilon,
        meanDice: 0.55 - 8 * epsilon,
        meanLoss: 0.3 + epsilon,
        foregroundToBackground: 0.1 + 10 * epsilon,
        numPixels: 1000,
        confusion: [],
        cached: false,
      })),
    })),
    stages: [{ id: "data", label: "data", kind: "data", seconds: 1.5, reused: false, attempts: 1 }],
    totalSeconds: 60,
  };
}

/** Writes the fixture run folder: results.json, figures.json + PNGs, selection-comparison.json. */
export function writeFixtureRunFolder(runDir: string): ExperimentResults {
  mkdirSync(join(runDir, "figures"), { recursive: true });
  const results = fixtureResults(runDir);
  writeFileSync(join(runDir, "results.json"), JSON.stringify(results, null, 2));
  const colors = ["#dddddd", "#cc6677", "#332288"];
  const kinds: [string, [number, number, number]][] = [
    ["image", [200, 120, 160]],
    ["truth", [204, 102, 119]],
    ["perturbation", [128, 128, 128]],
    ["target", [221, 221, 221]],
  ];
  const index: FiguresIndex = {
    schema: FIGURES_SCHEMA,
    key: "fixture",
    classNames: FIXTURE_CLASSES,
    classColors: colors,
    figures: [
      {
        id: "fig2-plain-pgd",
        paperFigure: "2",
        title: "Plain <PGD>",
        caption: "caption with <tags> & ampersands",
        model: "M1",
        modelId: "m-M1",
        dataset: "train",
        datasetId: "ds-train",
        perturbedDataset: null,
        attack: { method: "pgd", epsilon: 0.01, steps: 3, target: { class: 0 } },
        attackModel: "M1",
        targetClass: "background",
        images: [
          {
            imageIndex: 0,
            linf: 0.01,
            panels: kinds.map(([kind, rgb]) => {
              const file = `figures/fig2-0-${kind}.png`;
              writeFileSync(join(runDir, file), solidPng(8, 8, rgb));
              return { kind, file, width: 8, height: 8, caption: kind === "target" ? "target: background" : kind };
            }),
          },
        ],
      },
    ],
  };
  writeFileSync(join(runDir, "figures.json"), JSON.stringify(index, null, 2));
  writeFileSync(
    join(runDir, "selection-comparison.json"),
    JSON.stringify({ strategies: [{ strategy: "greedy", optimumShare: 0.8, sameSignsShare: 0.7, reductionCaptured: 0.95 }, { strategy: "beam:3", optimumShare: 0.9, sameSignsShare: 0.85, reductionCaptured: 0.99 }] }),
  );
  return results;
}
