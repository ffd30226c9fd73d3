// Plain names for the contract's enums, as they appear in results and on the command line.
import { Split } from "../generated/robustseg/v1/common.js";

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
