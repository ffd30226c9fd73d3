// Plain names for the contract's enums, as they appear in results and on the command line.
import { Split } from "../generated/robustseg/v1/common.js";
import { Upsampling } from "../generated/robustseg/v1/model.js";

export type SplitName = "train" | "validation" | "test" | "unspecified";

export function splitName(split: Split): SplitName {
  switch (split) {
    case Split.SPLIT_TRAIN:
      return "train";
    case Split.SPLIT_VALIDATION:
      return "validation";
    case Split.SPLIT_TEST:
      return "test";
    default:
      return "unspecified";
  }
}

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
