// What the data-source modules share: how tiles of another size are fitted, the generated
// sources' split sizes, and the command-line options several sources take.
import { resolve } from "node:path";
import { z } from "zod";
import { Fit } from "../generated/robustseg/v1/data.js";
import type { CliOptionSpec } from "../extensions/extension.js";
import { posInt } from "../extensions/spec-values.js";
import { choice, nonNegativeInteger, positiveInteger } from "../extensions/option-values.js";

/** How tiles of another size are fitted to tileSize: crop (centre) or resize; unset = native size. */
export const FITS = ["crop", "resize"] as const;
export type FitName = (typeof FITS)[number];
const FIT: Record<FitName, Fit> = { crop: Fit.FIT_CENTER_CROP, resize: Fit.FIT_RESIZE };
export const fitToProto = (f: FitName | undefined): Fit => (f ? FIT[f] : Fit.FIT_UNSPECIFIED);
export const fitSchema = () => z.enum(FITS, { error: `must be one of ${FITS.join(", ")}` });

/** ", resize to 128×128" for a file source with a tile size; "" at native size. */
export function describeFit(s: { tileSize?: number | undefined; fit?: FitName | undefined }): string {
  return s.tileSize ? `, ${s.fit ?? "native"} to ${s.tileSize}×${s.tileSize}` : "";
}

/** A folder a source reads: its spec field, its command-line option and the absolute folder. */
export interface SourceFolder {
  field: string;
  option: string;
  folder: string;
}

export const absolute = (p: string): string => resolve(p);

/** The generated sources' split sizes and seed, one default each for the spec and the CLI. */
export const GENERATED_DEFAULTS = { tileSize: 64, train: 160, validation: 32, test: 48, seed: 0 } as const;

export const generatedSpecFields = () => ({
  tileSize: posInt().default(GENERATED_DEFAULTS.tileSize),
  train: posInt().default(GENERATED_DEFAULTS.train),
  validation: posInt().default(GENERATED_DEFAULTS.validation),
  test: posInt().default(GENERATED_DEFAULTS.test),
  seed: z.int({ error: "must be a non-negative integer" }).min(0, "must be a non-negative integer").default(GENERATED_DEFAULTS.seed),
});

/** Contract field names of the generated sources in the spec's words. */
export const GENERATED_RENAMES = { num_train: "train", num_validation: "validation", num_test: "test" } as const;

const pathValue = z.string().trim().min(1, "must not be empty");

/** Options of `dataset create` that several sources take. */
export const SOURCE_OPTIONS = {
  tileSize: { flags: "--tile-size <pixels>", description: "tile height = width in pixels (files: native size unless given)", value: positiveInteger() },
  train: { flags: "--train <tiles>", description: "tiles in the train split (0: no split)", value: nonNegativeInteger(), default: GENERATED_DEFAULTS.train },
  validation: {
    flags: "--validation <tiles>",
    description: "tiles in the validation split (0: no split)",
    value: nonNegativeInteger(),
    default: GENERATED_DEFAULTS.validation,
  },
  test: { flags: "--test <tiles>", description: "tiles in the test split (0: no split)", value: nonNegativeInteger(), default: GENERATED_DEFAULTS.test },
  seed: { flags: "--seed <n>", description: "generator seed", value: nonNegativeInteger(), default: GENERATED_DEFAULTS.seed },
  path: { flags: "--path <dir>", description: "the data folder", value: pathValue },
  fit: { flags: "--fit <how>", description: `fit tiles of another size to --tile-size (${FITS.join(", ")})`, value: choice(FITS) },
} satisfies Record<string, CliOptionSpec>;

export const pathOptionValue = () => pathValue;

/** The split sizes of a generated source's CLI values (the worker refuses a source whose every split is empty). */
export function generatedSplits(values: { train?: number | undefined; validation?: number | undefined; test?: number | undefined; seed?: number | undefined }) {
  const out = {
    numTrain: values.train ?? GENERATED_DEFAULTS.train,
    numValidation: values.validation ?? GENERATED_DEFAULTS.validation,
    numTest: values.test ?? GENERATED_DEFAULTS.test,
    seed: values.seed ?? GENERATED_DEFAULTS.seed,
  };
  return out;
}
