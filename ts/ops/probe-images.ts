// Probing image files (Probe): for each image the clean prediction, an attack against the model,
// the prediction on the attacked image and how much they differ; with an output folder also the
// masks (palette PNGs), the attacked image (PNG, and .npy for its exact float values) and
// probe.json.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ProbeFigures } from "../client/image-stream.js";
import type { WorkerClient } from "../client/worker-client.js";
import type { Tiling } from "../generated/robustseg/v1/predict.js";
import { writeNpyFloat32 } from "../imaging/npy.js";
import { encodeRgbPng } from "../imaging/png.js";
import { type AttackParams, attackSpec } from "../attacks/registry.js";
import { writeFileAtomic, writeJsonAtomic } from "../files/atomic.js";
import { resolveModel } from "./model-names.js";
import { checkDistinctNames, checkOutputFolder, maskBytes, readImages } from "./predict-images.js";
import { type OperationContext, silentReporter } from "./reporter.js";

export const PROBE_FILE = "probe.json";
export const PROBE_SCHEMA = "robustseg.probe/v1";

export interface ProbeFilesParams {
  model: string;
  files: readonly string[];
  attack: AttackParams;
  outDir?: string | undefined;
  tiling?: Tiling | undefined;
}

export interface ProbedFile extends ProbeFigures {
  name: string;
  input: string;
  height: number;
  width: number;
  /** Written files, relative to outDir (null without one). */
  cleanMask: string | null;
  attackedMask: string | null;
  adversarialImage: string | null;
  adversarialArray: string | null;
}

export interface ProbeFilesOutcome {
  schema: typeof PROBE_SCHEMA;
  modelId: string;
  classNames: string[];
  classColors: string[];
  attack: AttackParams;
  /** The attack as the worker ran it (defaults filled). */
  workerAttack: Record<string, unknown>;
  images: ProbedFile[];
  seconds: number;
  outDir: string | null;
}

/** (3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded. */
function toRgb(chw: Float32Array, height: number, width: number): Uint8Array {
  const out = new Uint8Array(height * width * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < height * width; i++) out[i * 3 + c] = Math.round(Math.min(1, Math.max(0, chw[c * height * width + i] as number)) * 255);
  }
  return out;
}

export async function probeFiles(client: WorkerClient, params: ProbeFilesParams, context: OperationContext = {}): Promise<ProbeFilesOutcome> {
  const reporter = context.reporter ?? silentReporter;
  checkDistinctNames(params.files);
  const outDir = params.outDir === undefined ? null : resolve(params.outDir);
  if (outDir) checkOutputFolder(outDir, params.files);
  const model = await resolveModel(client, params.model, context);
  if (outDir) await mkdir(outDir, { recursive: true });
  const outcome: ProbeFilesOutcome = {
    schema: PROBE_SCHEMA,
    modelId: model.id,
    classNames: [...model.classNames],
    classColors: [],
    attack: params.attack,
    workerAttack: {},
    images: [],
    seconds: 0,
    outDir,
  };
  const options = { modelId: model.id, attack: attackSpec(params.attack, model.classNames), adversarialImages: outDir !== null, tiling: params.tiling };
  reporter.progress({ stage: "probe", done: 0, total: params.files.length });
  try {
    for await (const event of client.probe(options, readImages(params.files), { signal: context.signal })) {
      if (event.$case === "header") {
        outcome.classColors = event.value.classColors;
      } else if (event.$case === "image") {
        const image = event.value;
        const files = { cleanMask: null, attackedMask: null, adversarialImage: null, adversarialArray: null } as Pick<
          ProbedFile,
          "cleanMask" | "attackedMask" | "adversarialImage" | "adversarialArray"
        >;
        if (outDir) {
          files.cleanMask = `${image.name}.clean.png`;
          files.attackedMask = `${image.name}.attacked.png`;
          await writeFileAtomic(join(outDir, files.cleanMask), maskBytes(image.width, image.height, image.cleanLabels, outcome.classColors));
          await writeFileAtomic(join(outDir, files.attackedMask), maskBytes(image.width, image.height, image.adversarialLabels, outcome.classColors));
          if (image.adversarialImage) {
            files.adversarialImage = `${image.name}.adversarial.png`;
            files.adversarialArray = `${image.name}.adversarial.npy`;
            await writeFileAtomic(join(outDir, files.adversarialImage), encodeRgbPng({ height: image.height, width: image.width, data: toRgb(image.adversarialImage, image.height, image.width) }));
            await writeFileAtomic(join(outDir, files.adversarialArray), writeNpyFloat32([3, image.height, image.width], image.adversarialImage));
          }
        }
        outcome.images.push({ name: image.name, input: params.files[image.index] as string, height: image.height, width: image.width, ...image.figures, ...files });
        reporter.progress({ stage: "probe", done: outcome.images.length, total: params.files.length, message: image.name });
      } else if (event.$case === "result") {
        outcome.seconds = event.value.seconds;
        outcome.workerAttack = JSON.parse(event.value.attackJson || "{}") as Record<string, unknown>;
      }
    }
  } finally {
    reporter.endStage();
  }
  if (outDir) await writeJsonAtomic(join(outDir, PROBE_FILE), outcome);
  return outcome;
}
