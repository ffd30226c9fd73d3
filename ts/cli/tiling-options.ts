// Sliding-window options shared by `robustseg predict` and `robustseg probe`.
import type { Command } from "commander";
import { z } from "zod";
import type { Tiling } from "../generated/robustseg/v1/predict.js";
import { DECIMAL_NUMBER } from "../extensions/option-values.js";
import { nonNegativeInteger } from "./option-schemas.js";
import { option } from "./parse-options.js";

export const tilingOptionsSchema = {
  tileSize: nonNegativeInteger(8192),
  tileOverlap: z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const text = String(value).trim();
      const n = Number(text);
      if (!DECIMAL_NUMBER.test(text) || !Number.isFinite(n) || n < 0 || n > 0.9) {
        ctx.addIssue({ code: "custom", message: `must be a number between 0 and 0.9, got ${value}` });
        return z.NEVER;
      }
      return n;
    })
    .optional(),
  tileBatch: nonNegativeInteger(4096),
};

export function addTilingOptions(command: Command): Command {
  return command
    .addOption(option("--tile-size <px>", "sliding-window side (0: whole images up to 1024x1024, else 1024)", 0))
    .option("--tile-overlap <fraction>", "overlap of neighbouring windows, 0 to 0.9 (default 0.25)")
    .addOption(option("--tile-batch <n>", "windows per forward pass (0: the worker decides)", 0));
}

export function tilingFrom(options: { tileSize: number; tileOverlap?: number | undefined; tileBatch: number }): Tiling {
  return { tileSize: options.tileSize, overlap: options.tileOverlap, batchSize: options.tileBatch };
}
