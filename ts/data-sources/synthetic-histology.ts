// synthetic-histology: H&E-like tiles with PanNuke's six classes (background about 80% of the
// pixels), deterministic for a seed; the embedded default source (docs/ARCHITECTURE.md section 6).
import { z } from "zod";
import type { DataSource } from "../generated/robustseg/v1/data.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { GENERATED_DEFAULTS, GENERATED_RENAMES, generatedSpecFields, generatedSplits, SOURCE_OPTIONS, type SourceFolder } from "./common.js";

export interface SyntheticHistologyParams {
  source: "synthetic-histology";
  tileSize: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  seed: number;
}

const { tileSize, train, validation, test, seed } = SOURCE_OPTIONS;
const options = cliOptions({ tileSize: { ...tileSize, default: GENERATED_DEFAULTS.tileSize }, train, validation, test, seed });
const specSchema = z.strictObject({ source: z.literal("synthetic-histology"), ...generatedSpecFields() });

export const syntheticHistology = defineExtension({
  name: "synthetic-histology",
  protoCase: "syntheticHistology",
  description: "H&E-like tiles with PanNuke's 6 classes, generated for a seed",
  cliOptions: options,
  specSchema: () => specSchema,

  fromSpec(d: z.output<typeof specSchema>): SyntheticHistologyParams {
    return { source: "synthetic-histology", tileSize: d.tileSize, numTrain: d.train, numValidation: d.validation, numTest: d.test, seed: d.seed };
  },

  fromCli(values: CliValues<typeof options>): SyntheticHistologyParams {
    return { source: "synthetic-histology", tileSize: values.tileSize ?? GENERATED_DEFAULTS.tileSize, ...generatedSplits(values) };
  },

  toProto(p: SyntheticHistologyParams): DataSource {
    const value = { tileSize: p.tileSize, numTrain: p.numTrain, numValidation: p.numValidation, numTest: p.numTest, seed: p.seed };
    return { source: { $case: "syntheticHistology", value } };
  },

  describe(p: SyntheticHistologyParams): string {
    return `synthetic-histology ${p.tileSize}×${p.tileSize}, seed ${p.seed}`;
  },

  folders(_p: SyntheticHistologyParams): SourceFolder[] {
    return [];
  },

  specField: (protoField: string) => specFieldOf(protoField, GENERATED_RENAMES),
});
