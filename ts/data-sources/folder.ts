// folder: the common image/mask layout of segmentation sets, images/NAME.png with
// masks/NAME.png (uint8 class index per pixel): one folder split by seeded fractions, or one
// folder per split. Class names from the spec or classes.json in the folder.
import { resolve } from "node:path";
import { z } from "zod";
import type { DataSource } from "../generated/robustseg/v1/data.js";
import { type CliValues, cliOptions, defineExtension, ExtensionOptionError } from "../extensions/extension.js";
import { specFieldOf } from "../extensions/field-paths.js";
import { fraction, nonNegInt, pathString, posInt } from "../extensions/spec-values.js";
import { finiteNumber } from "../extensions/option-values.js";
import { absolute, describeFit, fitSchema, type FitName, fitToProto, pathOptionValue, SOURCE_OPTIONS, type SourceFolder } from "./common.js";

/** One default for the spec and the command line: 60/20/20 train/validation/test. */
export const FOLDER_FRACTIONS = { validation: 0.2, test: 0.2 } as const;
const PATH_FIELDS = ["path", "trainPath", "validationPath", "testPath"] as const;

export interface FolderParams {
  source: "folder";
  /** One folder split by fractions... */
  path?: string | undefined;
  validationFraction?: number | undefined;
  testFraction?: number | undefined;
  seed?: number | undefined;
  /** ...or one folder per split. */
  trainPath?: string | undefined;
  validationPath?: string | undefined;
  testPath?: string | undefined;
  /** Unset: classes.json in the folder. */
  classNames?: string[] | undefined;
  tileSize?: number | undefined;
  fit?: FitName | undefined;
}

const specSchema = z
  .strictObject({
    source: z.literal("folder"),
    /** One folder split by the fractions (seeded)... */
    path: pathString("a folder with images/ and masks/").optional(),
    validationFraction: fraction().optional(),
    testFraction: fraction().optional(),
    seed: nonNegInt().default(0),
    /** ...or one folder per split (each with images/ and masks/). */
    trainPath: pathString("a folder with images/ and masks/").optional(),
    validationPath: pathString("a folder with images/ and masks/").optional(),
    testPath: pathString("a folder with images/ and masks/").optional(),
    /** Unset: classes.json in the folder. */
    classNames: z.array(z.string({ error: "must be a class name" }).min(1, "must not be empty"), { error: "must be a list of class names" }).optional(),
    tileSize: posInt().optional(),
    fit: fitSchema().optional(),
  })
  .superRefine((d, ctx) => {
    // Structure only (which fields go together); fractions, class names and files are the worker's.
    const perSplit = d.trainPath !== undefined || d.validationPath !== undefined || d.testPath !== undefined;
    if (d.path !== undefined && perSplit) ctx.addIssue({ code: "custom", path: ["path"], message: "set either path (split by fractions) or trainPath/validationPath/testPath, not both" });
    else if (d.path === undefined && !perSplit) ctx.addIssue({ code: "custom", path: ["path"], message: "required (a folder with images/ and masks/), or trainPath/validationPath/testPath" });
    else if (perSplit) {
      for (const k of ["trainPath", "validationPath", "testPath"] as const) {
        if (d[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: "required: the experiment needs train, validation and test splits" });
      }
      if (d.validationFraction !== undefined || d.testFraction !== undefined) {
        ctx.addIssue({ code: "custom", path: [d.validationFraction !== undefined ? "validationFraction" : "testFraction"], message: "fractions apply to path; leave them out with per-split folders" });
      }
    }
  });

const splitPath = (split: string) => ({ flags: `--${split}-path <dir>`, description: `the ${split} split's folder (instead of --path)`, value: pathOptionValue() });
const options = cliOptions({
  path: { ...SOURCE_OPTIONS.path, description: "the folder (images/, masks/), split by the fractions" },
  validationFraction: { flags: "--validation-fraction <f>", description: "share of the images drawn for validation", value: finiteNumber(), default: FOLDER_FRACTIONS.validation },
  testFraction: { flags: "--test-fraction <f>", description: "share of the images drawn for test", value: finiteNumber(), default: FOLDER_FRACTIONS.test },
  seed: { ...SOURCE_OPTIONS.seed, description: "seed of the split" },
  trainPath: splitPath("train"),
  validationPath: splitPath("validation"),
  testPath: splitPath("test"),
  classNames: {
    flags: "--class-names <names>",
    description: "class names, comma-separated, background first (default: classes.json)",
    value: z.string().transform((v) => v.split(",").map((n) => n.trim())),
  },
  tileSize: SOURCE_OPTIONS.tileSize,
  fit: SOURCE_OPTIONS.fit,
});

export const folder = defineExtension({
  name: "folder",
  protoCase: "folder",
  description: "images/NAME.png + masks/NAME.png (uint8 class index per pixel), split by seeded fractions or per-split folders",
  cliOptions: options,
  specSchema: () => specSchema,

  resolveSpecPaths(block: Record<string, unknown>, baseDir: string): Record<string, unknown> {
    const out = { ...block };
    for (const k of PATH_FIELDS) if (typeof out[k] === "string" && out[k] !== "") out[k] = resolve(baseDir, out[k]);
    return out;
  },

  fromSpec(d: z.output<typeof specSchema>): FolderParams {
    const common = { seed: d.seed, classNames: d.classNames, tileSize: d.tileSize, fit: d.fit };
    return d.path
      ? {
          source: "folder",
          path: d.path,
          validationFraction: d.validationFraction ?? FOLDER_FRACTIONS.validation,
          testFraction: d.testFraction ?? FOLDER_FRACTIONS.test,
          ...common,
        }
      : { source: "folder", trainPath: d.trainPath, validationPath: d.validationPath, testPath: d.testPath, ...common };
  },

  fromCli(values: CliValues<typeof options>): FolderParams {
    const perSplit = values.trainPath || values.validationPath || values.testPath;
    if (values.path && perSplit) throw new ExtensionOptionError("path", "give either --path (split by fractions) or --train-path/--validation-path/--test-path");
    if (!values.path && !perSplit) throw new ExtensionOptionError("path", "required (a folder with images/ and masks/), or --train-path/--validation-path/--test-path");
    const common = { seed: values.seed ?? 0, classNames: values.classNames, tileSize: values.tileSize, fit: values.fit };
    return values.path
      ? {
          source: "folder",
          path: resolve(values.path),
          validationFraction: values.validationFraction ?? FOLDER_FRACTIONS.validation,
          testFraction: values.testFraction ?? FOLDER_FRACTIONS.test,
          ...common,
        }
      : {
          source: "folder",
          trainPath: values.trainPath && resolve(values.trainPath),
          validationPath: values.validationPath && resolve(values.validationPath),
          testPath: values.testPath && resolve(values.testPath),
          ...common,
        };
  },

  toProto(p: FolderParams): DataSource {
    return {
      source: {
        $case: "folder",
        value: {
          path: p.path ? absolute(p.path) : "",
          classNames: p.classNames ?? [],
          validationFraction: p.path ? (p.validationFraction ?? FOLDER_FRACTIONS.validation) : 0,
          testFraction: p.path ? (p.testFraction ?? FOLDER_FRACTIONS.test) : 0,
          seed: p.seed ?? 0,
          tileSize: p.tileSize ?? 0,
          fit: fitToProto(p.fit),
          trainPath: p.trainPath ? absolute(p.trainPath) : "",
          validationPath: p.validationPath ? absolute(p.validationPath) : "",
          testPath: p.testPath ? absolute(p.testPath) : "",
        },
      },
    };
  },

  describe(p: FolderParams): string {
    return p.path
      ? `folder ${p.path} (validation ${p.validationFraction ?? FOLDER_FRACTIONS.validation}, test ${p.testFraction ?? FOLDER_FRACTIONS.test}, seed ${p.seed ?? 0})${describeFit(p)}`
      : `folders train ${p.trainPath ?? "-"}, validation ${p.validationPath ?? "-"}, test ${p.testPath ?? "-"}${describeFit(p)}`;
  },

  folders(p: FolderParams): SourceFolder[] {
    return PATH_FIELDS.flatMap((k) => (p[k] ? [{ field: k, option: k, folder: p[k] }] : []));
  },

  specField: (protoField: string) => specFieldOf(protoField),
});
