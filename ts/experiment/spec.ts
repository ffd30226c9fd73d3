// The experiment spec (YAML or JSON file, or a preset, or a file over a preset): data, model,
// training, the two methods, the evaluation attack and protocols. Validated with zod; every
// error names the field path (and the file): "spec.yaml: training.epochs: must be a positive integer".
import { readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ATTACK_METHODS, type AttackTarget, type GradientAttackParams, LAYER_BUDGETS, type LayeredPgdParams } from "../ops/attacks.js";
import { FITS, KANDINSKY_LABELINGS, type DatasetSource } from "../ops/create-dataset.js";
import { UPSAMPLING_NAMES } from "../ops/names.js";
import { parseStrategy, type SelectionStrategy, strategyLabel } from "../selection/strategies.js";

export class SpecError extends Error {
  override readonly name = "SpecError";
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ""}${path ? `${path}: ` : ""}${problem}`);
  }
}

const posInt = (max = Number.MAX_SAFE_INTEGER) =>
  z.int({ error: "must be a positive integer" }).min(1, "must be a positive integer").max(max, `must be at most ${max}`);
const nonNegInt = () => z.int({ error: "must be a non-negative integer" }).min(0, "must be a non-negative integer");
const posNum = () => z.number({ error: "must be a positive number" }).positive("must be a positive number");
const epsilon = () => posNum().max(1, "must be at most 1 (a fraction of the pixel range)");

const syntheticData = z.strictObject({
  source: z.literal("synthetic-histology"),
  tileSize: posInt(4096).default(64),
  train: posInt().default(160),
  validation: posInt().default(32),
  test: posInt().default(48),
  seed: nonNegInt().default(0),
});
const tileSize = () => posInt(4096);
const fitSchema = () => z.enum(FITS, { error: `must be one of ${FITS.join(", ")}` });
const fraction = () => z.number({ error: "must be a number in [0, 1]" }).min(0, "must be in [0, 1]").max(1, "must be in [0, 1]");
const pathString = (what: string) => z.string({ error: `must be a path (${what})` }).min(1, `must not be empty (${what})`);

const kandinskyData = z.strictObject({
  source: z.literal("kandinsky"),
  tileSize: tileSize().default(64),
  train: posInt().default(160),
  validation: posInt().default(32),
  test: posInt().default(48),
  seed: nonNegInt().default(0),
  labeling: z.enum(KANDINSKY_LABELINGS, { error: `must be one of ${KANDINSKY_LABELINGS.join(", ")}` }).default("shape"),
  /** e.g. "contains a red object" (default), "contains a blue square", "all objects have the same shape". */
  concept: z.string().min(1, "must not be empty").optional(),
  minObjects: posInt(64).optional(),
  maxObjects: posInt(64).optional(),
});
// A fold: a folder path (relative to `path`, else to the spec file) or a number N = "Fold N".
const foldList = () =>
  z
    .union([z.string().min(1, "must not be empty"), posInt(), z.array(z.union([z.string().min(1, "must not be empty"), posInt()]))], {
      error: 'must be a fold folder, a fold number or a list of them (e.g. ["Fold 1"])',
    })
    .transform((v) => (Array.isArray(v) ? v : [v]).map((f) => (typeof f === "number" ? `Fold ${f}` : f)));
const pannukeData = z.strictObject({
  source: z.literal("pannuke"),
  /** The folder holding the folds (--data-path); folds are relative to it. */
  path: z.string({ error: "must be a path (the folder of the PanNuke folds)" }).min(1, "required (the folder of the PanNuke folds; --data-path)").optional(),
  trainFolds: foldList().default(["Fold 1"]),
  validationFolds: foldList().default(["Fold 2"]),
  testFolds: foldList().default(["Fold 3"]),
  tileSize: tileSize().default(256),
  fit: fitSchema().optional(),
  maxImagesPerSplit: posInt().optional(),
});
const folderData = z
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
    classNames: z.array(z.string().min(1, "must not be empty")).min(2, "needs background and at least one more class").optional(),
    tileSize: tileSize().optional(),
    fit: fitSchema().optional(),
  })
  .superRefine((d, ctx) => {
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
    } else if ((d.validationFraction ?? 0.2) + (d.testFraction ?? 0.2) >= 1) {
      ctx.addIssue({ code: "custom", path: ["testFraction"], message: "validationFraction + testFraction must be below 1 (the rest trains)" });
    }
    if (d.fit !== undefined && d.tileSize === undefined) ctx.addIssue({ code: "custom", path: ["tileSize"], message: `required when fit is ${d.fit}` });
  });

const DATA_SOURCES = ["synthetic-histology", "kandinsky", "pannuke", "folder"] as const;
const dataSchema = z.discriminatedUnion("source", [syntheticData, kandinskyData, pannukeData, folderData], {
  error: (issue) =>
    issue.code === "invalid_union" ? `data.source: must be one of ${DATA_SOURCES.join(", ")}` : undefined,
});

const strategySchema = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((value, ctx): SelectionStrategy => {
  try {
    if (typeof value === "string") return parseStrategy(value);
    const parsed = z
      .discriminatedUnion("kind", [
        z.strictObject({ kind: z.literal("exhaustive") }),
        z.strictObject({ kind: z.literal("greedy"), maxSweeps: posInt().optional() }),
        z.strictObject({ kind: z.literal("beam"), width: posInt() }),
      ])
      .safeParse(value);
    if (parsed.success) return parsed.data;
    ctx.addIssue({ code: "custom", message: "must be exhaustive, greedy, greedy(N), beam(k) or {kind, width|maxSweeps}" });
  } catch {
    ctx.addIssue({ code: "custom", message: `unknown strategy ${JSON.stringify(value)}: must be exhaustive, greedy, greedy(N) or beam(k)` });
  }
  return z.NEVER;
});

const targetSchema = z.union([z.string(), z.number()]).transform((value, ctx): AttackTarget => {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) {
      ctx.addIssue({ code: "custom", message: "must be untargeted, a class name or a non-negative class index" });
      return z.NEVER;
    }
    return { class: value };
  }
  const t = value.trim();
  if (t === "") {
    ctx.addIssue({ code: "custom", message: "must be untargeted, a class name or a class index" });
    return z.NEVER;
  }
  if (t.toLowerCase() === "untargeted") return "untargeted";
  return { class: /^\d+$/.test(t) ? Number(t) : t };
});

const PROTOCOLS = ["white-box", "transfer"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const SWEEP_MODELS = ["M1", "M2", "M3", "M4", "all"] as const;
const sweepSchema = z.strictObject({
  /** One model, a list of them, or all four. */
  model: z
    .union([z.enum(SWEEP_MODELS), z.array(z.enum(SWEEP_MODELS)).min(1, "needs at least one model")], { error: `must be one of ${SWEEP_MODELS.join(", ")} or a list of them` })
    .default("all"),
  attack: z
    .strictObject({
      method: z.enum(ATTACK_METHODS, { error: `must be one of ${ATTACK_METHODS.join(", ")}` }).default("pgd"),
      steps: posInt(100_000).default(10),
      stepSize: posNum().optional(),
      randomStart: z.boolean({ error: "must be true or false" }).default(false),
      target: targetSchema.default({ class: "background" }),
    })
    .default({ method: "pgd", steps: 10, randomStart: false, target: { class: "background" } }),
  epsilons: z
    .array(z.number({ error: "must be a number in [0, 1]" }).min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"), { error: "must be a list of ε values, e.g. [0, 0.005, 0.01]" })
    .min(1, "needs at least one ε")
    .refine((v) => new Set(v).size === v.length, "must not repeat a value")
    .transform((v) => [...v].sort((a, b) => a - b)),
  /** white-box: the attack computed against each model; transfer: against M1. */
  protocol: z.enum(PROTOCOLS, { error: `must be one of ${PROTOCOLS.join(", ")}` }).default("white-box"),
});
export type SweepSpec = z.output<typeof sweepSchema>;

export const experimentSpecSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a word of letters, digits, '.', '_' or '-'")
    .default("experiment"),
  data: dataSchema,
  model: z
    .strictObject({
      architecture: z.literal("unet", { error: "must be unet" }).default("unet"),
      depth: posInt(8).default(3),
      baseWidth: posInt(1024).default(16),
      upsampling: z.enum(UPSAMPLING_NAMES, { error: `must be one of ${UPSAMPLING_NAMES.join(", ")}` }).default("bilinear"),
    })
    .default({ architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear" }),
  training: z.strictObject({
    epochs: posInt(100_000),
    batchSize: posInt(65_536).default(16),
    learningRate: posNum().default(0.005),
    seed: nonNegInt().default(0),
    augment: z.boolean({ error: "must be true or false" }).default(true),
    /** M4's epochs on clean ∪ D1 ∪ D2; default round(E/3), at least 1. */
    combinedEpochs: posInt(100_000).optional(),
  }),
  methodOne: z.strictObject({
    epsilon: epsilon().default(0.01),
    steps: posInt(100_000),
    stepSize: posNum().optional(),
    classOrder: z.array(z.union([nonNegInt(), z.string().min(1)])).optional(),
    budget: z.enum(LAYER_BUDGETS, { error: `must be one of ${LAYER_BUDGETS.join(", ")}` }).default("per-layer"),
  }),
  methodTwo: z.strictObject({
    epsilon: epsilon().default(0.01),
    strategy: strategySchema.default({ kind: "greedy" }),
    project: z.boolean({ error: "must be true or false" }).default(false),
  }),
  evaluation: z.strictObject({
    attack: z.strictObject({
      method: z.enum(ATTACK_METHODS, { error: `must be one of ${ATTACK_METHODS.join(", ")}` }).default("pgd"),
      epsilon: epsilon().default(0.01),
      steps: posInt(100_000),
      stepSize: posNum().optional(),
      randomStart: z.boolean().default(false),
      target: targetSchema.default({ class: "background" }),
    }),
    protocols: z
      .array(z.enum(PROTOCOLS, { error: `must be one of ${PROTOCOLS.join(", ")}` }))
      .min(1, "needs at least one protocol")
      .default(["white-box", "transfer"]),
    batchSize: nonNegInt().default(0),
  }),
  /** ε-sweeps: robustness curves of trained models (results.json sweeps[], sweeps/*.json). */
  sweeps: z.array(sweepSchema).default([]),
});

export type ExperimentSpecInput = z.input<typeof experimentSpecSchema>;
export type ExperimentSpec = z.output<typeof experimentSpecSchema>;

/** DESIGN section 8: synthetic 64×64, small U-Net, short training, reduced steps, greedy method two. */
export const DEMO_SPEC: ExperimentSpecInput = {
  name: "demo",
  data: { source: "synthetic-histology", tileSize: 64, train: 160, validation: 32, test: 48, seed: 0 },
  model: { architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear" },
  training: { epochs: 12, batchSize: 16, learningRate: 0.005, seed: 0, augment: true },
  methodOne: { epsilon: 0.01, steps: 3, budget: "per-layer" },
  methodTwo: { epsilon: 0.01, strategy: "greedy", project: false },
  evaluation: { attack: { method: "pgd", epsilon: 0.01, steps: 10, target: "background" }, protocols: ["white-box", "transfer"] },
  sweeps: [{ model: ["M1", "M4"], attack: { method: "pgd", steps: 5, target: "background" }, epsilons: [0, 0.005, 0.02], protocol: "white-box" }],
};

/** The paper's protocol on PanNuke (path from the user): 256×256, 100-step attacks, exhaustive. */
export const PAPER_SPEC: ExperimentSpecInput = {
  name: "paper",
  data: { source: "pannuke", path: "", tileSize: 256, trainFolds: ["Fold 1"], validationFolds: ["Fold 2"], testFolds: ["Fold 3"] },
  model: { architecture: "unet", depth: 4, baseWidth: 64, upsampling: "bilinear" },
  training: { epochs: 30, batchSize: 16, learningRate: 0.001, seed: 0, augment: true },
  methodOne: { epsilon: 0.01, steps: 100, budget: "per-layer" },
  methodTwo: { epsilon: 0.01, strategy: "exhaustive", project: false },
  evaluation: { attack: { method: "pgd", epsilon: 0.01, steps: 100, target: "background" }, protocols: ["white-box", "transfer"] },
  sweeps: [{ model: "all", attack: { method: "pgd", steps: 100, target: "background" }, epsilons: [0, 0.0025, 0.005, 0.01, 0.02], protocol: "white-box" }],
};

export const PRESETS = { demo: DEMO_SPEC, paper: PAPER_SPEC } as const;
export type PresetName = keyof typeof PRESETS;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `over` deep-merged onto `base` (objects merge, everything else replaces). */
export function mergeSpec(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeSpec(base[k], v);
  // A different data source replaces the whole data block.
  if (isPlainObject(base.data) && isPlainObject(over.data) && over.data.source !== undefined && over.data.source !== base.data.source) {
    out.data = over.data;
  }
  return out;
}

/** Validates a spec object; errors name the field path (and the file when given). */
export function parseSpec(value: unknown, file?: string): ExperimentSpec {
  const result = experimentSpecSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = (issue?.path ?? []).map((p, i) => (typeof p === "number" ? `[${p}]` : `${i > 0 ? "." : ""}${String(p)}`)).join("");
    let message = issue?.message ?? "invalid";
    if (issue?.code === "invalid_type" && /received undefined/.test(message)) message = "required";
    if (issue?.code === "unrecognized_keys") message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
    if (message.startsWith("data.source: ")) throw new SpecError("data.source", message.slice("data.source: ".length), file);
    throw new SpecError(path, message, file);
  }
  return checkSupported(result.data, file);
}

/** What the schema declares but the worker cannot do yet. */
export function checkSupported(spec: ExperimentSpec, file?: string): ExperimentSpec {
  const t = spec.data.tileSize;
  if (spec.data.source === "kandinsky" && spec.data.minObjects !== undefined && spec.data.maxObjects !== undefined && spec.data.minObjects > spec.data.maxObjects) {
    throw new SpecError("data.minObjects", `must be at most maxObjects (${spec.data.maxObjects})`, file);
  }
  if (t !== undefined && t % 2 ** spec.model.depth !== 0) {
    throw new SpecError("model.depth", `the tile size ${t} must divide by 2^depth = ${2 ** spec.model.depth}`, file);
  }
  return spec;
}

/** Parses spec text: YAML (JSON is YAML too). */
export function parseSpecText(text: string, file?: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const msg = (error as Error).message.split("\n")[0] ?? "not valid YAML or JSON";
    throw new SpecError("", `not valid YAML or JSON: ${msg}`, file);
  }
}

export interface LoadSpecOptions {
  file?: string | undefined;
  preset?: PresetName | undefined;
  /** Applied last (e.g. the CLI's --name, --data-path). */
  overrides?: Record<string, unknown> | undefined;
}

/** The spec actually used: preset, then the file over it, then the overrides. */
export async function loadSpec(options: LoadSpecOptions): Promise<ExperimentSpec> {
  let value: unknown = options.preset ? structuredClone(PRESETS[options.preset]) : {};
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, "utf8");
    } catch (error) {
      throw new SpecError("", `cannot read the spec file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, options.file);
    }
    const fromFile = parseSpecText(text, options.file);
    if (fromFile !== null && fromFile !== undefined && !isPlainObject(fromFile)) {
      throw new SpecError("", "must be a mapping (YAML) or an object (JSON) at the top level", options.file);
    }
    value = mergeSpec(value, resolveDataPaths(fromFile ?? {}, dirname(resolve(options.file))));
  } else if (!options.preset) {
    throw new SpecError("", "give a spec file or --preset demo|paper");
  }
  if (options.overrides) value = mergeSpec(value, resolveDataPaths(options.overrides, process.cwd()));
  const spec = parseSpec(value, options.file);
  await checkDataPaths(spec, options.file);
  return spec;
}

const PATH_FIELDS = ["path", "trainPath", "validationPath", "testPath"] as const;
const FOLD_FIELDS = ["trainFolds", "validationFolds", "testFolds"] as const;

/**
 * A spec object with its data paths made absolute against `baseDir` (the spec file's folder, or
 * the current directory for CLI overrides). PanNuke folds stay relative to `data.path` when the
 * same object sets it; otherwise they resolve against `baseDir` too.
 */
export function resolveDataPaths(value: unknown, baseDir: string): unknown {
  if (!isPlainObject(value) || !isPlainObject(value.data)) return value;
  const data: Record<string, unknown> = { ...value.data };
  for (const k of PATH_FIELDS) if (typeof data[k] === "string" && data[k] !== "") data[k] = resolve(baseDir, data[k]);
  if (data.path === undefined) {
    for (const k of FOLD_FIELDS) {
      const v = data[k];
      const fix = (f: unknown) => (typeof f === "string" && f !== "" ? resolve(baseDir, f) : f);
      if (Array.isArray(v)) data[k] = v.map(fix);
      else if (typeof v === "string") data[k] = fix(v);
    }
  }
  return { ...value, data };
}

/** PanNuke folds as absolute folders: relative ones below data.path (else the current directory). */
export function pannukeFolds(data: Extract<ExperimentSpec["data"], { source: "pannuke" }>): { train: string[]; validation: string[]; test: string[] } {
  const base = data.path ?? process.cwd();
  const abs = (f: string) => (isAbsolute(f) ? f : resolve(base, f));
  return { train: data.trainFolds.map(abs), validation: data.validationFolds.map(abs), test: data.testFolds.map(abs) };
}

/** The folders a spec's data source reads, by field (what a spawned worker gets as --data-root). */
export function specDataFolders(spec: ExperimentSpec): { field: string; folder: string }[] {
  const d = spec.data;
  if (d.source === "pannuke") {
    const folds = pannukeFolds(d);
    return [
      ...folds.train.map((folder, i) => ({ field: `data.trainFolds[${i}]`, folder })),
      ...folds.validation.map((folder, i) => ({ field: `data.validationFolds[${i}]`, folder })),
      ...folds.test.map((folder, i) => ({ field: `data.testFolds[${i}]`, folder })),
    ];
  }
  if (d.source === "folder") {
    return PATH_FIELDS.flatMap((k) => (d[k] ? [{ field: `data.${k}`, folder: d[k] }] : []));
  }
  return [];
}

/** The worker's data roots for a spec: its data folders. */
export function specDataRoots(spec: ExperimentSpec): string[] {
  return [...new Set(specDataFolders(spec).map((f) => f.folder))];
}

/** Every data folder exists (errors name the field and the folder). */
export async function checkDataPaths(spec: ExperimentSpec, file?: string): Promise<void> {
  for (const { field, folder } of specDataFolders(spec)) {
    let isDir = false;
    try {
      isDir = (await stat(folder)).isDirectory();
    } catch {
      throw new SpecError(field, `no such folder: ${folder}`, file);
    }
    if (!isDir) throw new SpecError(field, `not a folder: ${folder}`, file);
  }
}

/** The spec's data block as a dataset-creation request. */
export function specDataSource(spec: ExperimentSpec): DatasetSource {
  const d = spec.data;
  switch (d.source) {
    case "synthetic-histology":
      return { source: d.source, tileSize: d.tileSize, numTrain: d.train, numValidation: d.validation, numTest: d.test, seed: d.seed };
    case "kandinsky":
      return {
        source: d.source,
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
    case "pannuke": {
      const folds = pannukeFolds(d);
      return {
        source: d.source,
        trainFolds: folds.train,
        validationFolds: folds.validation,
        testFolds: folds.test,
        tileSize: d.tileSize,
        fit: d.fit,
        maxImagesPerSplit: d.maxImagesPerSplit,
      };
    }
    case "folder":
      return d.path
        ? {
            source: d.source,
            path: d.path,
            validationFraction: d.validationFraction ?? 0.2,
            testFraction: d.testFraction ?? 0.2,
            seed: d.seed,
            classNames: d.classNames,
            tileSize: d.tileSize,
            fit: d.fit,
          }
        : {
            source: d.source,
            trainPath: d.trainPath,
            validationPath: d.validationPath,
            testPath: d.testPath,
            seed: d.seed,
            classNames: d.classNames,
            tileSize: d.tileSize,
            fit: d.fit,
          };
  }
}

// ---- derived parameters ----

/** M4's epochs: the spec's combinedEpochs, else round(E/3), at least 1. */
export function combinedEpochs(spec: ExperimentSpec): number {
  return spec.training.combinedEpochs ?? Math.max(1, Math.round(spec.training.epochs / 3));
}

export function methodOneAttack(spec: ExperimentSpec): LayeredPgdParams {
  const m = spec.methodOne;
  return { method: "layered-pgd", epsilon: m.epsilon, steps: m.steps, stepSize: m.stepSize, classOrder: m.classOrder, budget: m.budget };
}

export function evaluationAttack(spec: ExperimentSpec): GradientAttackParams {
  const a = spec.evaluation.attack;
  return { method: a.method, epsilon: a.epsilon, steps: a.steps, stepSize: a.stepSize, randomStart: a.randomStart, seed: 0, target: a.target };
}

/** The spec as written to spec.json (strategies as labels, so it reads back). */
export function specForJson(spec: ExperimentSpec): unknown {
  const target = spec.evaluation.attack.target;
  return {
    ...spec,
    methodTwo: { ...spec.methodTwo, strategy: strategyLabel(spec.methodTwo.strategy) },
    evaluation: { ...spec.evaluation, attack: { ...spec.evaluation.attack, target: target === "untargeted" ? target : target.class } },
    sweeps: spec.sweeps.map((s) => ({ ...s, attack: { ...s.attack, target: s.attack.target === "untargeted" ? "untargeted" : s.attack.target.class } })),
  };
}
