// kandinsky: Kandinsky Patterns (Holzinger et al. 2019): non-overlapping circles, squares and
// triangles in red, yellow and blue on grey; classes by shape, colour or both; the figure's
// concept ("contains a red object") kept as an image-level tag.
import { z } from "zod";
import { type DataSource, KandinskyLabeling } from "../generated/robustseg/v1/data.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { posInt } from "../extensions/spec-values.js";
import { choice, positiveInteger } from "../extensions/option-values.js";
import { GENERATED_DEFAULTS, GENERATED_RENAMES, generatedSpecFields, generatedSplits, SOURCE_OPTIONS, type SourceFolder } from "./common.js";

export const KANDINSKY_LABELINGS = ["shape", "colour", "shape-and-colour"] as const;
export type KandinskyLabelingName = (typeof KANDINSKY_LABELINGS)[number];
const LABELING: Record<KandinskyLabelingName, KandinskyLabeling> = {
  shape: KandinskyLabeling.KANDINSKY_LABELING_SHAPE,
  colour: KandinskyLabeling.KANDINSKY_LABELING_COLOUR,
  "shape-and-colour": KandinskyLabeling.KANDINSKY_LABELING_SHAPE_AND_COLOUR,
};
const DEFAULT_LABELING: KandinskyLabelingName = "shape";
const DEFAULT_CONCEPT = "contains a red object";

export interface KandinskyParams {
  source: "kandinsky";
  tileSize: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  seed: number;
  labeling: KandinskyLabelingName;
  /** e.g. "contains a red object" (the worker's default when unset). */
  concept?: string | undefined;
  minObjects?: number | undefined;
  maxObjects?: number | undefined;
}

const { tileSize, train, validation, test, seed } = SOURCE_OPTIONS;
const options = cliOptions({
  tileSize: { ...tileSize, default: GENERATED_DEFAULTS.tileSize },
  train,
  validation,
  test,
  seed,
  labeling: { flags: "--labeling <labels>", description: `classes by ${KANDINSKY_LABELINGS.join(", ")}`, value: choice(KANDINSKY_LABELINGS), default: DEFAULT_LABELING },
  concept: { flags: "--concept <text>", description: `the image-level concept (default "${DEFAULT_CONCEPT}")`, value: z.string().trim().min(1, "must not be empty") },
  minObjects: { flags: "--min-objects <n>", description: "fewest objects per figure", value: positiveInteger() },
  maxObjects: { flags: "--max-objects <n>", description: "most objects per figure", value: positiveInteger() },
});

const specSchema = z.strictObject({
  source: z.literal("kandinsky"),
  ...generatedSpecFields(),
  labeling: z.enum(KANDINSKY_LABELINGS, { error: `must be one of ${KANDINSKY_LABELINGS.join(", ")}` }).default(DEFAULT_LABELING),
  /** e.g. "contains a red object" (default), "contains a blue square", "all objects have the same shape". */
  concept: z.string({ error: "must be a string" }).min(1, "must not be empty").optional(),
  minObjects: posInt().optional(),
  maxObjects: posInt().optional(),
});

export const kandinsky = defineExtension({
  name: "kandinsky",
  protoCase: "kandinsky",
  description: "Kandinsky Patterns: coloured shapes on grey; classes by shape and/or colour; the concept as an image tag",
  cliOptions: options,
  specSchema: () => specSchema,

  fromSpec(d: z.output<typeof specSchema>): KandinskyParams {
    return {
      source: "kandinsky",
      tileSize: d.tileSize,
      numTrain: d.train,
      numValidation: d.validation,
      numTest: d.test,
      seed: d.seed,
      labeling: d.labeling,
      concept: d.concept,
      minObjects: d.minObjects,
      maxObjects: d.maxObjects,
    };
  },

  fromCli(values: CliValues<typeof options>): KandinskyParams {
    return {
      source: "kandinsky",
      tileSize: values.tileSize ?? GENERATED_DEFAULTS.tileSize,
      ...generatedSplits(values),
      labeling: values.labeling ?? DEFAULT_LABELING,
      concept: values.concept,
      minObjects: values.minObjects,
      maxObjects: values.maxObjects,
    };
  },

  toProto(p: KandinskyParams): DataSource {
    return {
      source: {
        $case: "kandinsky",
        value: {
          tileSize: p.tileSize,
          numTrain: p.numTrain,
          numValidation: p.numValidation,
          numTest: p.numTest,
          seed: p.seed,
          labeling: LABELING[p.labeling],
          minObjects: p.minObjects ?? 0,
          maxObjects: p.maxObjects ?? 0,
          concept: p.concept ?? "",
        },
      },
    };
  },

  describe(p: KandinskyParams): string {
    return `kandinsky ${p.tileSize}×${p.tileSize}, labels by ${p.labeling}, concept "${p.concept ?? DEFAULT_CONCEPT}", seed ${p.seed}`;
  },

  folders(_p: KandinskyParams): SourceFolder[] {
    return [];
  },

  specField: (protoField: string) => specFieldOf(protoField, GENERATED_RENAMES),
});
