// pannuke: the Kaggle/Warwick PanNuke folds (images.npy, masks.npy, types.npy anywhere below each
// fold folder; memory-mapped by the worker); tissue types as image tags. Folds are folders
// relative to `path` (a number N means "Fold N"); default Fold 1/2/3 = train/validation/test.
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import type { DataSource } from "../generated/robustseg/v1/data.js";
import { type CliValues, cliOptions, defineExtension, ExtensionOptionError } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { posInt } from "../extensions/spec-values.js";
import { positiveInteger } from "../extensions/option-values.js";
import { absolute, describeFit, fitSchema, type FitName, fitToProto, pathOptionValue, SOURCE_OPTIONS, type SourceFolder } from "./common.js";

export interface PanNukeParams {
  source: "pannuke";
  /** Fold folders (absolute or relative to the current directory). */
  trainFolds: string[];
  validationFolds: string[];
  testFolds: string[];
  /** Unset = native (256). */
  tileSize?: number | undefined;
  fit?: FitName | undefined;
  /** 0 / unset = all. */
  maxImagesPerSplit?: number | undefined;
}

const DEFAULT_FOLDS = { train: ["Fold 1"], validation: ["Fold 2"], test: ["Fold 3"] } as const;
const FOLD_FIELDS = ["trainFolds", "validationFolds", "testFolds"] as const;

// A fold: a folder path (relative to `path`, else to the spec file) or a number N = "Fold N".
const foldList = () =>
  z
    .union([z.string().min(1, "must not be empty"), posInt(), z.array(z.union([z.string().min(1, "must not be empty"), posInt()]))], {
      error: 'must be a fold folder, a fold number or a list of them (e.g. ["Fold 1"])',
    })
    .transform((v) => (Array.isArray(v) ? v : [v]).map((f) => (typeof f === "number" ? `Fold ${f}` : f)));

const specSchema = z.strictObject({
  source: z.literal("pannuke"),
  /** The folder holding the folds (--data-path); folds are relative to it. */
  path: z.string({ error: "must be a path (the folder of the PanNuke folds)" }).min(1, "required (the folder of the PanNuke folds; --data-path)").optional(),
  trainFolds: foldList().default([...DEFAULT_FOLDS.train]),
  validationFolds: foldList().default([...DEFAULT_FOLDS.validation]),
  testFolds: foldList().default([...DEFAULT_FOLDS.test]),
  tileSize: posInt().default(256),
  fit: fitSchema().optional(),
  maxImagesPerSplit: posInt().optional(),
});

const fold = (description: string) => ({ flags: `--${description}-fold <dir>`, description: `a ${description} fold folder, relative to --path (repeatable; default "${DEFAULT_FOLDS[description as keyof typeof DEFAULT_FOLDS][0]}")`, value: z.array(pathOptionValue()), repeatable: true });
const options = cliOptions({
  path: { ...SOURCE_OPTIONS.path, description: "the folder holding the folds (Fold 1/2/3 below it = train/validation/test)" },
  trainFold: fold("train"),
  validationFold: fold("validation"),
  testFold: fold("test"),
  tileSize: SOURCE_OPTIONS.tileSize,
  fit: SOURCE_OPTIONS.fit,
  maxImages: { flags: "--max-images <n>", description: "at most N images per split (the first N of its folds)", value: positiveInteger() },
});

function foldsOf(base: string, folds: readonly string[]): string[] {
  return folds.map((f) => (isAbsolute(f) ? f : resolve(base, f)));
}

export const pannuke = defineExtension({
  name: "pannuke",
  protoCase: "pannuke",
  description: "PanNuke folds (images.npy, masks.npy, types.npy; memory-mapped); tissue types as image tags",
  cliOptions: options,
  specSchema: () => specSchema,

  /** `path` against the spec's folder; folds against it too unless the same block sets `path`. */
  resolveSpecPaths(block: Record<string, unknown>, baseDir: string): Record<string, unknown> {
    const out = { ...block };
    if (typeof out.path === "string" && out.path !== "") out.path = resolve(baseDir, out.path);
    else if (out.path === undefined) {
      const fix = (f: unknown) => (typeof f === "string" && f !== "" ? resolve(baseDir, f) : f);
      for (const k of FOLD_FIELDS) {
        const v = out[k];
        if (Array.isArray(v)) out[k] = v.map(fix);
        else if (typeof v === "string") out[k] = fix(v);
      }
    }
    return out;
  },

  /** Folds as absolute folders: relative ones below `path` (else the current directory). */
  fromSpec(d: z.output<typeof specSchema>): PanNukeParams {
    const base = d.path ?? process.cwd();
    return {
      source: "pannuke",
      trainFolds: foldsOf(base, d.trainFolds),
      validationFolds: foldsOf(base, d.validationFolds),
      testFolds: foldsOf(base, d.testFolds),
      tileSize: d.tileSize,
      fit: d.fit,
      maxImagesPerSplit: d.maxImagesPerSplit,
    };
  },

  fromCli(values: CliValues<typeof options>): PanNukeParams {
    const base = values.path ? resolve(values.path) : process.cwd();
    const folds = (v: string[] | undefined, dflt: readonly string[]) => foldsOf(base, v ?? (values.path ? dflt : []));
    const params: PanNukeParams = {
      source: "pannuke",
      trainFolds: folds(values.trainFold, DEFAULT_FOLDS.train),
      validationFolds: folds(values.validationFold, DEFAULT_FOLDS.validation),
      testFolds: folds(values.testFold, DEFAULT_FOLDS.test),
      tileSize: values.tileSize,
      fit: values.fit,
      maxImagesPerSplit: values.maxImages,
    };
    if (params.trainFolds.length + params.validationFolds.length + params.testFolds.length === 0) {
      throw new ExtensionOptionError("path", "give the folder of the folds (Fold 1/2/3 below it), or --train-fold/--validation-fold/--test-fold");
    }
    return params;
  },

  toProto(p: PanNukeParams): DataSource {
    return {
      source: {
        $case: "pannuke",
        value: {
          trainFolds: p.trainFolds.map(absolute),
          validationFolds: p.validationFolds.map(absolute),
          testFolds: p.testFolds.map(absolute),
          tileSize: p.tileSize ?? 0,
          fit: fitToProto(p.fit),
          maxImagesPerSplit: p.maxImagesPerSplit ?? 0,
        },
      },
    };
  },

  describe(p: PanNukeParams): string {
    const max = p.maxImagesPerSplit ? `, at most ${p.maxImagesPerSplit} per split` : "";
    return `pannuke folds train [${p.trainFolds.join(", ")}], validation [${p.validationFolds.join(", ")}], test [${p.testFolds.join(", ")}]${describeFit(p)}${max}`;
  },

  folders(p: PanNukeParams): SourceFolder[] {
    return [
      ...p.trainFolds.map((folder, i) => ({ field: `trainFolds[${i}]`, option: "trainFold", folder })),
      ...p.validationFolds.map((folder, i) => ({ field: `validationFolds[${i}]`, option: "validationFold", folder })),
      ...p.testFolds.map((folder, i) => ({ field: `testFolds[${i}]`, option: "testFold", folder })),
    ];
  },

  specField: (protoField: string) => specFieldOf(protoField),
});
