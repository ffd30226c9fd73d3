// The experiment spec (YAML or JSON file, or a preset, or a file over a preset): data, model,
// training, the two methods, the evaluation attack and protocols. Validated with zod; every
// error names the field path (and the file): "spec.yaml: training.epochs: must be a positive integer".
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ATTACK_METHODS, type AttackTarget, type GradientAttackParams, LAYER_BUDGETS, type LayeredPgdParams } from "../ops/attacks.js";
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
// Declared so that a spec naming them gets a clear refusal; their loaders come with issue 4.
const pannukeData = z.strictObject({
  source: z.literal("pannuke"),
  path: z.string({ error: "required (the folder of the PanNuke folds)" }).min(1, "required (the folder of the PanNuke folds; --data-path)"),
  trainFolds: z.array(posInt()).optional(),
  validationFolds: z.array(posInt()).optional(),
  testFolds: z.array(posInt()).optional(),
  tileSize: posInt(4096).default(256),
  seed: nonNegInt().default(0),
});
const folderData = z.strictObject({
  source: z.literal("folder"),
  path: z.string({ error: "required (a folder with images/ and masks/)" }).min(1, "must not be empty"),
  tileSize: posInt(4096).optional(),
  seed: nonNegInt().default(0),
});

const DATA_SOURCES = ["synthetic-histology", "pannuke", "folder"] as const;
const dataSchema = z.discriminatedUnion("source", [syntheticData, pannukeData, folderData], {
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
};

/** The paper's protocol on PanNuke (path from the user): 256×256, 100-step attacks, exhaustive. */
export const PAPER_SPEC: ExperimentSpecInput = {
  name: "paper",
  data: { source: "pannuke", path: "", tileSize: 256, trainFolds: [1], validationFolds: [2], testFolds: [3], seed: 0 },
  model: { architecture: "unet", depth: 4, baseWidth: 64, upsampling: "bilinear" },
  training: { epochs: 30, batchSize: 16, learningRate: 0.001, seed: 0, augment: true },
  methodOne: { epsilon: 0.01, steps: 100, budget: "per-layer" },
  methodTwo: { epsilon: 0.01, strategy: "exhaustive", project: false },
  evaluation: { attack: { method: "pgd", epsilon: 0.01, steps: 100, target: "background" }, protocols: ["white-box", "transfer"] },
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
  if (spec.data.source === "pannuke" || spec.data.source === "folder") {
    throw new SpecError("data.source", `${spec.data.source} is not supported yet (issue 4)`, file);
  }
  const t = spec.data.tileSize;
  if (t % 2 ** spec.model.depth !== 0) {
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
    value = mergeSpec(value, fromFile ?? {});
  } else if (!options.preset) {
    throw new SpecError("", "give a spec file or --preset demo|paper");
  }
  if (options.overrides) value = mergeSpec(value, options.overrides);
  return parseSpec(value, options.file);
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
  };
}
