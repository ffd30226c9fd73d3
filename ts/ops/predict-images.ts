// Segmenting image files with a trained model (Predict): one palette PNG mask per image (pixel
// value = class index, palette = the report's class colours, which the worker sends), optionally
// an .npy of class probabilities, and predictions.json, the index of what was written.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ImageInput, LabelMap } from "../client/image-stream.js";
import type { WorkerClient } from "../client/worker-client.js";
import type { Tiling } from "../generated/robustseg/v1/predict.js";
import { imageName, readImageFile } from "../imaging/image-files.js";
import { writeNpyFloat32 } from "../imaging/npy.js";
import { encodeMaskPng } from "../imaging/png.js";
import { writeFileAtomic, writeJsonAtomic } from "../files/atomic.js";
import { checkOutputApartFromInputs, checkOutputKind } from "../files/output-target.js";
import { type OperationContext, silentReporter } from "./reporter.js";

export const PREDICTIONS_FILE = "predictions.json";
export const PREDICTIONS_SCHEMA = "robustseg.predictions/v1";

export interface PredictFilesParams {
  /** Model id or alias. */
  model: string;
  /** Image files (PNG or .npy), in order. */
  files: readonly string[];
  /** Where masks go; unset: nothing is written. */
  outDir?: string | undefined;
  probabilities?: boolean | undefined;
  tiling?: Tiling | undefined;
}

export interface PredictedFile {
  name: string;
  input: string;
  height: number;
  width: number;
  /** Relative to outDir; null when nothing was written. */
  mask: string | null;
  probabilities: string | null;
  classPixelCounts: number[];
  /** Share of the image's pixels per class (background first). */
  classShares: number[];
}

export interface PredictFilesOutcome {
  schema: typeof PREDICTIONS_SCHEMA;
  modelId: string;
  classNames: string[];
  classColors: string[];
  tileSize: number;
  images: PredictedFile[];
  numPixels: number;
  /** Worker time. */
  seconds: number;
  outDir: string | null;
}

/** Two inputs must not write the same output names. */
export function checkDistinctNames(files: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const file of files) {
    const name = imageName(file);
    const other = seen.get(name);
    if (other !== undefined) throw new Error(`--input: ${other} and ${file} would both write outputs named ${name}`);
    seen.set(name, file);
  }
}

/** The output folder is a folder (or nothing yet) and no input file is in it: masks never replace images. */
export function checkOutputFolder(outDir: string, files: readonly string[]): void {
  checkOutputKind("outDir", outDir, "folder");
  checkOutputApartFromInputs({ option: "outDir", path: outDir, shape: "folder" }, files.map((path) => ({ option: "input", path })));
}

export async function* readImages(files: readonly string[]): AsyncGenerator<ImageInput> {
  for (const file of files) yield readImageFile(file);
}

export function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

export function maskBytes(width: number, height: number, labels: LabelMap, classColors: readonly string[]): Buffer {
  if (!(labels instanceof Uint8Array)) throw new Error(`a palette PNG holds at most 256 classes; this model has ${classColors.length}`);
  return encodeMaskPng(width, height, labels, classColors);
}

export async function predictFiles(client: WorkerClient, params: PredictFilesParams, context: OperationContext = {}): Promise<PredictFilesOutcome> {
  const reporter = context.reporter ?? silentReporter;
  checkDistinctNames(params.files);
  const outDir = params.outDir === undefined ? null : resolve(params.outDir);
  if (outDir) {
    checkOutputFolder(outDir, params.files);
    await mkdir(outDir, { recursive: true });
  }
  const outcome: PredictFilesOutcome = {
    schema: PREDICTIONS_SCHEMA,
    modelId: "",
    classNames: [],
    classColors: [],
    tileSize: 0,
    images: [],
    numPixels: 0,
    seconds: 0,
    outDir,
  };
  const options = { modelId: params.model, probabilities: params.probabilities ?? false, tiling: params.tiling };
  try {
    for await (const event of client.predict(options, readImages(params.files), { signal: context.signal })) {
      if (event.$case === "header") {
        outcome.modelId = event.value.modelId;
        outcome.classNames = event.value.classNames;
        outcome.classColors = event.value.classColors;
        outcome.tileSize = event.value.tileSize;
      } else if (event.$case === "image") {
        const image = event.value;
        const input = params.files[image.index] as string;
        let mask: string | null = null;
        let probabilities: string | null = null;
        if (outDir) {
          mask = `${image.name}.png`;
          await writeFileAtomic(join(outDir, mask), maskBytes(image.width, image.height, image.labels, outcome.classColors));
          if (image.probabilities) {
            probabilities = `${image.name}.probabilities.npy`;
            await writeFileAtomic(join(outDir, probabilities), writeNpyFloat32([outcome.classNames.length, image.height, image.width], image.probabilities));
          }
        }
        outcome.images.push({
          name: image.name,
          input,
          height: image.height,
          width: image.width,
          mask,
          probabilities,
          classPixelCounts: image.classPixelCounts,
          classShares: shares(image.classPixelCounts),
        });
        reporter.progress({ stage: "predict", done: outcome.images.length, total: params.files.length, message: image.name });
      } else if (event.$case === "result") {
        outcome.numPixels = Number(event.value.numPixels);
        outcome.seconds = event.value.seconds;
      }
    }
  } finally {
    reporter.endStage();
  }
  if (outDir) await writeJsonAtomic(join(outDir, PREDICTIONS_FILE), outcome);
  return outcome;
}
