// unet: the built-in U-Net (Ronneberger et al. 2015) with BatchNorm and ReLU, bilinear or
// transposed-convolution up-sampling; the worker pads tiles to a multiple of 2^depth and crops
// the logits back, so any tile size works. The spec form `model: {architecture: unet, depth,
// baseWidth, upsampling}` (no `backend`) is this backend.
import { z } from "zod";
import { type ModelSpec, Upsampling } from "../generated/robustseg/v1/model.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { nonNegInt, posInt } from "../extensions/spec-values.js";
import { choice, positiveInteger } from "../extensions/option-values.js";

export const UPSAMPLING_NAMES = ["bilinear", "transposed"] as const;
export type UpsamplingName = (typeof UPSAMPLING_NAMES)[number];

export function upsamplingToProto(name: UpsamplingName): Upsampling {
  return name === "transposed" ? Upsampling.UPSAMPLING_TRANSPOSED_CONV : Upsampling.UPSAMPLING_BILINEAR;
}

export function upsamplingName(value: Upsampling): UpsamplingName | "default" {
  if (value === Upsampling.UPSAMPLING_TRANSPOSED_CONV) return "transposed";
  if (value === Upsampling.UPSAMPLING_BILINEAR) return "bilinear";
  return "default";
}

/** The control plane's defaults (a small U-Net for quick experiments; the worker's own are 4 and 64). */
export const UNET_DEFAULTS = { depth: 3, baseWidth: 16, upsampling: "bilinear" } as const satisfies { depth: number; baseWidth: number; upsampling: UpsamplingName };

export interface UNetParams {
  backend: "unet";
  architecture: "unet";
  depth: number;
  baseWidth: number;
  upsampling: UpsamplingName;
  /**
   * Round the input to 2^bits levels first (0 = off): bit-depth reduction, a front with no
   * gradient, i.e. a model that masks gradients on purpose, for the trust checks.
   */
  inputBits?: number | undefined;
}

const options = cliOptions({
  depth: { flags: "--depth <n>", description: "U-Net down-sampling stages (the worker pads tiles to a multiple of 2^depth)", value: positiveInteger(), default: UNET_DEFAULTS.depth },
  baseWidth: { flags: "--base-width <n>", description: "channels of the first U-Net stage, doubled per stage", value: positiveInteger(), default: UNET_DEFAULTS.baseWidth },
  upsampling: { flags: "--upsampling <mode>", description: `U-Net decoder up-sampling (${UPSAMPLING_NAMES.join(", ")})`, value: choice(UPSAMPLING_NAMES), default: UNET_DEFAULTS.upsampling },
});

const specSchema = z.strictObject({
  backend: z.literal("unet"),
  architecture: z.literal("unet", { error: "must be unet (the unet backend has one architecture; for others set backend: smp or monai)" }).default("unet"),
  depth: posInt().default(UNET_DEFAULTS.depth),
  baseWidth: posInt().default(UNET_DEFAULTS.baseWidth),
  upsampling: z.enum(UPSAMPLING_NAMES, { error: `must be one of ${UPSAMPLING_NAMES.join(", ")}` }).default(UNET_DEFAULTS.upsampling),
  /** Bit-depth reduction of the input (0 = off; the worker takes 1-8): masks gradients on purpose. */
  inputBits: nonNegInt().default(0),
});

export const unet = defineExtension({
  name: "unet",
  protoCase: "unet",
  description: "the built-in U-Net (Ronneberger et al. 2015): depth, base width, bilinear or transposed up-sampling",
  cliOptions: options,
  specSchema: () => specSchema,

  fromCli(values: CliValues<typeof options>): UNetParams {
    return {
      backend: "unet",
      architecture: "unet",
      depth: values.depth ?? UNET_DEFAULTS.depth,
      baseWidth: values.baseWidth ?? UNET_DEFAULTS.baseWidth,
      upsampling: values.upsampling ?? UNET_DEFAULTS.upsampling,
    };
  },

  toProto(p: UNetParams): ModelSpec {
    return { architecture: { $case: "unet", value: { depth: p.depth, baseWidth: p.baseWidth, upsampling: upsamplingToProto(p.upsampling), inputBits: p.inputBits ?? 0 } } };
  },

  fromProto(spec: ModelSpec): UNetParams | undefined {
    const a = spec.architecture;
    if (a?.$case !== "unet") return undefined;
    const up = upsamplingName(a.value.upsampling);
    return { backend: "unet", architecture: "unet", depth: a.value.depth, baseWidth: a.value.baseWidth, upsampling: up === "default" ? "bilinear" : up, inputBits: a.value.inputBits };
  },

  describe(p: UNetParams): string {
    return `U-Net depth ${p.depth}, base width ${p.baseWidth}, ${p.upsampling} up-sampling${p.inputBits ? `, input rounded to ${p.inputBits} bits` : ""}`;
  },

  specField: (protoField: string) => specFieldOf(protoField),
});
