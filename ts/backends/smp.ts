// smp: segmentation_models_pytorch (the worker pins 0.6.x): its architectures (Unet,
// UnetPlusPlus, FPN, DeepLabV3Plus, DeepLabV3, Linknet, PSPNet, MAnet, PAN, UPerNet, Segformer)
// with any encoder it offers (or a timm model as tu-<name>), randomly initialised unless a weights file from a data root is given. Nothing is ever
// downloaded: named pretrained weights ("imagenet") are refused by the worker.
import { resolve } from "node:path";
import { z } from "zod";
import type { ModelSpec } from "../generated/robustseg/v1/model.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { nonEmptyString, pathString, posInt } from "../extensions/spec-values.js";
import { positiveInteger } from "../extensions/option-values.js";
import type { ModelFile } from "./files.js";

export const SMP_ARCHITECTURES = ["Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus", "DeepLabV3", "Linknet", "PSPNet", "MAnet", "PAN", "UPerNet", "Segformer"] as const;

export interface SmpParams {
  backend: "smp";
  /** Unset: the worker's default (Unet). */
  architecture?: string | undefined;
  /** An smp encoder name, e.g. resnet18; unset: the worker's default. */
  encoder?: string | undefined;
  encoderDepth?: number | undefined;
  /** Unset or "none": random initialisation. */
  encoderWeights?: string | undefined;
  /** A safetensors or torch state-dict file (encoder alone or the whole network), absolute. */
  weightsFile?: string | undefined;
}

const text = () => z.string().trim().min(1, "must not be empty");
const options = cliOptions({
  architecture: { flags: "--architecture <name>", description: `smp architecture (${SMP_ARCHITECTURES.join(", ")}; default Unet)`, value: text() },
  encoder: { flags: "--encoder <name>", description: "smp encoder, e.g. resnet18, efficientnet-b0, mit_b0 (robustseg info lists them)", value: text() },
  encoderDepth: { flags: "--encoder-depth <n>", description: "encoder stages (default: the architecture's)", value: positiveInteger() },
  encoderWeights: { flags: "--encoder-weights <name>", description: "none (default); named pretrained weights need a download and are refused", value: text() },
  weightsFile: { flags: "--weights-file <file>", description: "initial weights: safetensors or a torch state dict (encoder or whole network)", value: text() },
});

const specSchema = z.strictObject({
  backend: z.literal("smp"),
  architecture: nonEmptyString("an smp architecture, e.g. Unet").optional(),
  encoder: nonEmptyString("an smp encoder, e.g. resnet18").optional(),
  encoderDepth: posInt().optional(),
  encoderWeights: nonEmptyString("none, or named weights (refused: no downloads)").optional(),
  weightsFile: pathString("a safetensors or torch state-dict file").optional(),
});

export const smp = defineExtension({
  name: "smp",
  protoCase: "smp",
  description: "segmentation_models_pytorch: Unet, FPN, DeepLabV3Plus, ... with any of its encoders, random init or a weights file",
  cliOptions: options,
  specSchema: () => specSchema,

  /** weightsFile against the spec file's folder. */
  resolveSpecPaths(block: Record<string, unknown>, baseDir: string): Record<string, unknown> {
    return typeof block.weightsFile === "string" && block.weightsFile !== "" ? { ...block, weightsFile: resolve(baseDir, block.weightsFile) } : block;
  },

  fromCli(values: CliValues<typeof options>): SmpParams {
    return {
      backend: "smp",
      architecture: values.architecture,
      encoder: values.encoder,
      encoderDepth: values.encoderDepth,
      encoderWeights: values.encoderWeights,
      weightsFile: values.weightsFile && resolve(values.weightsFile),
    };
  },

  toProto(p: SmpParams): ModelSpec {
    return {
      architecture: {
        $case: "smp",
        value: {
          architecture: p.architecture ?? "",
          encoder: p.encoder ?? "",
          encoderDepth: p.encoderDepth ?? 0,
          encoderWeights: p.encoderWeights ?? "",
          weightsFile: p.weightsFile ? resolve(p.weightsFile) : "",
        },
      },
    };
  },

  fromProto(spec: ModelSpec): SmpParams | undefined {
    const a = spec.architecture;
    if (a?.$case !== "smp") return undefined;
    const v = a.value;
    return {
      backend: "smp",
      architecture: v.architecture || undefined,
      encoder: v.encoder || undefined,
      encoderDepth: v.encoderDepth || undefined,
      encoderWeights: v.encoderWeights || undefined,
      weightsFile: v.weightsFile || undefined,
    };
  },

  describe(p: SmpParams): string {
    const parts = [`smp ${p.architecture ?? "(default architecture)"}`, `encoder ${p.encoder ?? "(default)"}`];
    if (p.encoderDepth) parts.push(`encoder depth ${p.encoderDepth}`);
    if (p.encoderWeights && p.encoderWeights !== "none") parts.push(`weights ${p.encoderWeights}`);
    if (p.weightsFile) parts.push(`initialised from ${p.weightsFile}`);
    return parts.join(", ");
  },

  /** The weights file a spawned worker must be allowed to read. */
  files(p: SmpParams): ModelFile[] {
    return p.weightsFile ? [{ field: "weightsFile", option: "weightsFile", file: resolve(p.weightsFile) }] : [];
  },

  specField: (protoField: string) => specFieldOf(protoField),
});
