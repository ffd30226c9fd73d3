// monai: MONAI (the worker pins 1.6.x) 2-D networks: BasicUNet, UNet (channels/strides,
// residual units), AttentionUnet and SwinUNETR, all with spatial_dims = 2 and wrapped like the
// U-Net (normalisation inside, inputs padded to the network's stride, logits cropped back).
import { z } from "zod";
import type { ModelSpec } from "../generated/robustseg/v1/model.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { nonEmptyString, nonNegNum, posInt } from "../extensions/spec-values.js";
import { commaList, finiteNumber, positiveInteger } from "../extensions/option-values.js";

export const MONAI_ARCHITECTURES = ["BasicUNet", "UNet", "AttentionUnet", "SwinUNETR"] as const;

export interface MonaiParams {
  backend: "monai";
  /** Unset: the worker's default (BasicUNet). */
  architecture?: string | undefined;
  /** UNet/AttentionUnet: channels per level; BasicUNet: its 6 feature counts. */
  channels?: number[] | undefined;
  /** UNet/AttentionUnet: one fewer than channels (unset: 2 everywhere). */
  strides?: number[] | undefined;
  numResUnits?: number | undefined;
  /** SwinUNETR: embedding size (a multiple of 12). */
  featureSize?: number | undefined;
  dropout?: number | undefined;
}

const intList = () => commaList("positive integers", (s) => (/^\d+$/.test(s) && Number(s) >= 1 ? Number(s) : undefined));

const options = cliOptions({
  architecture: { flags: "--architecture <name>", description: `MONAI network (${MONAI_ARCHITECTURES.join(", ")}; default BasicUNet)`, value: z.string().trim().min(1, "must not be empty") },
  channels: { flags: "--channels <list>", description: "channels per level, e.g. 16,32,64 (BasicUNet: its 6 feature counts)", value: intList() },
  strides: { flags: "--strides <list>", description: "UNet/AttentionUnet: strides between levels, one fewer than channels (default 2)", value: intList() },
  numResUnits: { flags: "--num-res-units <n>", description: "UNet: residual units per block", value: positiveInteger() },
  featureSize: { flags: "--feature-size <n>", description: "SwinUNETR: embedding size, a multiple of 12", value: positiveInteger() },
  dropout: { flags: "--dropout <p>", description: "dropout probability (default 0)", value: finiteNumber("nonNegative") },
});

const specSchema = z.strictObject({
  backend: z.literal("monai"),
  architecture: nonEmptyString("a MONAI network, e.g. BasicUNet").optional(),
  channels: z.array(posInt(), { error: "must be a list of positive integers" }).optional(),
  strides: z.array(posInt(), { error: "must be a list of positive integers" }).optional(),
  numResUnits: posInt().optional(),
  featureSize: posInt().optional(),
  dropout: nonNegNum().optional(),
});

export const monai = defineExtension({
  name: "monai",
  protoCase: "monai",
  description: "MONAI 2-D networks: BasicUNet, UNet (channels, strides, residual units), AttentionUnet, SwinUNETR",
  cliOptions: options,
  specSchema: () => specSchema,

  fromCli(values: CliValues<typeof options>): MonaiParams {
    return {
      backend: "monai",
      architecture: values.architecture,
      channels: values.channels,
      strides: values.strides,
      numResUnits: values.numResUnits,
      featureSize: values.featureSize,
      dropout: values.dropout,
    };
  },

  toProto(p: MonaiParams): ModelSpec {
    return {
      architecture: {
        $case: "monai",
        value: {
          architecture: p.architecture ?? "",
          channels: p.channels ?? [],
          strides: p.strides ?? [],
          numResUnits: p.numResUnits ?? 0,
          featureSize: p.featureSize ?? 0,
          dropout: p.dropout ?? 0,
        },
      },
    };
  },

  fromProto(spec: ModelSpec): MonaiParams | undefined {
    const a = spec.architecture;
    if (a?.$case !== "monai") return undefined;
    const v = a.value;
    return {
      backend: "monai",
      architecture: v.architecture || undefined,
      channels: v.channels.length > 0 ? [...v.channels] : undefined,
      strides: v.strides.length > 0 ? [...v.strides] : undefined,
      numResUnits: v.numResUnits || undefined,
      featureSize: v.featureSize || undefined,
      dropout: v.dropout || undefined,
    };
  },

  describe(p: MonaiParams): string {
    const parts = [`MONAI ${p.architecture ?? "(default network)"}`];
    if (p.channels) parts.push(`channels ${p.channels.join(",")}`);
    if (p.strides) parts.push(`strides ${p.strides.join(",")}`);
    if (p.numResUnits) parts.push(`${p.numResUnits} residual units`);
    if (p.featureSize) parts.push(`feature size ${p.featureSize}`);
    if (p.dropout) parts.push(`dropout ${p.dropout}`);
    return parts.join(", ");
  },

  specField: (protoField: string) => specFieldOf(protoField),
});
