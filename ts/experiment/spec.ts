// The experiment spec (YAML or JSON file, or a preset, or a file over a preset): data, model,
// training, the two methods, the evaluation attack and protocols, sweeps. Validated with zod for
// structure and types; every error names the field path (and the file):
// "spec.yaml: training.epochs: must be a positive integer". The blocks that name an extension
// (`data:` by source, `model:` by backend, attacks by method) come from the registries; ranges
// and meaning are checked by the worker before the first stage (ts/experiment/validate-plan.ts).
import { readFile, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type GradientAttackParams, gradientAttackSchema, gradientParams, type LayeredPgdParams } from "../attacks/registry.js";
import { layeredPgd } from "../attacks/layered-pgd.js";
import { DEFAULT_BACKEND, modelFiles, modelSpecSchema, resolveModelSpecPaths } from "../backends/registry.js";
import { type DatasetSource, dataSpecSchema, resolveDataSpecPaths, sourceFolders, sourceFromSpec } from "../data-sources/registry.js";
import { bool, epsilon, fraction, issuePath, nonNegInt, nonNegNum, posInt, posNum } from "../extensions/spec-values.js";
import { DEFAULT_SELECTION_STRATEGY, parseStrategy, type SelectionStrategy, selectionStrategySchema, strategyLabel } from "../selection/strategies.js";
import { ALL_BASELINE_MODEL_NAMES, baselineModelName, baselinesSchema } from "./baselines.js";
import { dataHasSeed, seedsSchema } from "./seeds.js";
import { strongEvaluationSchema } from "./strong-evaluation.js";

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

const strategySchema = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((value, ctx): SelectionStrategy => {
  try {
    if (typeof value === "string") return parseStrategy(value);
    const parsed = selectionStrategySchema.safeParse(value);
    if (parsed.success) return parsed.data;
    ctx.addIssue({ code: "custom", message: "must be exhaustive, greedy, greedy(N), beam(k), surrogate, surrogate(B) or {kind, width|maxSweeps|budget}" });
  } catch {
    ctx.addIssue({ code: "custom", message: `unknown strategy ${JSON.stringify(value)}: must be exhaustive, greedy, greedy(N), beam(k), surrogate or surrogate(B)` });
  }
  return z.NEVER;
});

const PROTOCOLS = ["white-box", "transfer", "worst-case"] as const;
export type Protocol = (typeof PROTOCOLS)[number];
const SWEEP_PROTOCOLS = ["white-box", "transfer"] as const;

/** The paper's models, then the adversarial-training baselines the spec adds. */
export const PAPER_MODEL_NAMES = ["M1", "M2", "M3", "M4"] as const;
export const SWEEP_MODELS = [...PAPER_MODEL_NAMES, ...ALL_BASELINE_MODEL_NAMES, "all"] as const;
const sweepSchema = z.strictObject({
  /** One model, a list of them, or all four. */
  model: z
    .union([z.enum(SWEEP_MODELS), z.array(z.enum(SWEEP_MODELS)).min(1, "needs at least one model")], { error: `must be one of ${SWEEP_MODELS.join(", ")} or a list of them` })
    .default("all"),
  /** Any gradient attack, targeted or untargeted, without ε (the sweep's ε vary); seed default 0. */
  attack: gradientAttackSchema("sweep").prefault({}),
  epsilons: z
    .array(z.number({ error: "must be a number in [0, 1]" }).min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"), { error: "must be a list of ε values, e.g. [0, 0.005, 0.01]" })
    .min(1, "needs at least one ε")
    .refine((v) => new Set(v).size === v.length, "must not repeat a value")
    .transform((v) => [...v].sort((a, b) => a - b)),
  /** white-box: the attack computed against each model; transfer: against M1. */
  protocol: z.enum(SWEEP_PROTOCOLS, { error: `must be one of ${SWEEP_PROTOCOLS.join(", ")}` }).default("white-box"),
});

/**
 * Checks that the numbers can be trusted (ts/experiment/trust-checks.ts): the ε-sweeps and the
 * transfer protocol are checked as they are; these two add one evaluation per model each.
 */
const trustSchema = z.strictObject({
  /** The evaluation attack at this ε must leave at most `largeEpsilonMaxAccuracy` foreground accuracy (false: no such check). */
  largeEpsilon: z.union([epsilon(), z.literal(false)], { error: "must be an ε in (0, 1] or false" }).default(0.1),
  largeEpsilonMaxAccuracy: fraction().default(0.1),
  /** The evaluation attack with this many steps must not leave more accuracy (default 4 × its steps; false: no such check). */
  moreSteps: z.union([posInt(), z.literal(false)], { error: "must be a positive integer or false" }).optional(),
  /** Accuracy differences up to this are noise. */
  tolerance: nonNegNum().default(0.005),
});

/** Processes launched by torchrun on this node (and more nodes), docs/scaling.md. */
const distributedSchema = z
  .strictObject({
    nprocPerNode: posInt(),
    nnodes: posInt().default(1),
    nodeRank: nonNegInt().default(0),
    rdzvEndpoint: z.string().regex(/^[^\s:]+:\d+$/, "must be host:port").optional(),
    rdzvId: z.string().optional(),
    backend: z.enum(["gloo", "nccl"], { error: "must be gloo or nccl" }).optional(),
  })
  .refine((d) => d.nnodes === 1 || d.rdzvEndpoint, { message: "required with nnodes > 1 (host:port every node reaches)", path: ["rdzvEndpoint"] })
  .refine((d) => d.nodeRank < d.nnodes, { message: "must be below nnodes", path: ["nodeRank"] });

export const experimentSpecSchema = z
  .strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a word of letters, digits, '.', '_' or '-'")
    .default("experiment"),
  data: dataSpecSchema(),
  /** One model spec for M1-M4: `{backend: unet|smp|monai, ...}`; without backend, the U-Net. */
  model: modelSpecSchema().prefault({}),
  training: z.strictObject({
    epochs: posInt(),
    batchSize: posInt().default(16),
    learningRate: posNum().default(0.005),
    seed: nonNegInt().default(0),
    augment: bool().default(true),
    /** M4's epochs on clean ∪ D1 ∪ D2; default round(E/3), at least 1. */
    combinedEpochs: posInt().optional(),
    /** Data-parallel training on torch.distributed (docs/scaling.md); absent: one process. */
    distributed: distributedSchema.optional(),
  }),
  /**
   * The dataset-building and evaluation stages (method one, method two's scoring and building,
   * the transfer attack, evaluations, the worst case, trust checks, sweeps) sharded across torch.distributed processes;
   * their artifacts and figures equal one process's, so the run cache does not depend on it.
   */
  distributed: distributedSchema.optional(),
  /**
   * Stages run at once on the worker when nothing is between them (M2's training beside method
   * two, the evaluations of one model beside another's training, ...). Default: 2 on a CPU worker,
   * 1 on a GPU. Each stage keeps the worker's thread count, so the results do not depend on it.
   */
  concurrency: posInt().optional(),
  /** The experiment repeated per seed (the training seed; the data seed too with varyData); absent: once, with training.seed. */
  seeds: seedsSchema.optional(),
  /** With seeds: the data seed follows the seed too (another split or synthetic set per seed). */
  varyData: bool().default(false),
  /** Adversarial-training baselines beside M1-M4: pgd-at, segpgd-at (ts/experiment/baselines.ts). */
  baselines: baselinesSchema,
  methodOne: layeredPgd.specSchema(),
  methodTwo: z.strictObject({
    epsilon: posNum().max(1, "must be at most 1 (a fraction of the pixel range)").default(0.01),
    strategy: strategySchema.default(DEFAULT_SELECTION_STRATEGY),
    project: bool().default(false),
  }),
  evaluation: z.strictObject({
    /** A gradient attack with ε; its seed (default 0) seeds random starts. */
    attack: gradientAttackSchema("evaluation"),
    protocols: z
      .array(z.enum(PROTOCOLS, { error: `must be one of ${PROTOCOLS.join(", ")}` }))
      .min(1, "needs at least one protocol")
      .default(["white-box", "transfer"]),
    /** The worst-case protocol's ensemble (SEA-style): APGD per loss plus the evaluation attack. */
    strong: strongEvaluationSchema.prefault({}),
    batchSize: nonNegInt().default(0),
  }),
  /** ε-sweeps: robustness curves of trained models (results.json sweeps[], sweeps/*.json). */
  sweeps: z.array(sweepSchema).default([]),
  trust: trustSchema.prefault({}),
  })
  .superRefine((spec, ctx) => {
    const models = new Set<string>([...PAPER_MODEL_NAMES, ...spec.baselines.map(baselineModelName)]);
    spec.sweeps.forEach((sweep, i) => {
      const names = typeof sweep.model === "string" ? [sweep.model] : sweep.model;
      for (const name of names) {
        if (name !== "all" && !models.has(name)) ctx.addIssue({ code: "custom", path: ["sweeps", i, "model"], message: `${name} is not a model of this spec (add its baseline to baselines)` });
      }
    });
    if ((spec.concurrency ?? 1) > 1 && (spec.distributed || spec.training.distributed)) {
      ctx.addIssue({ code: "custom", path: ["concurrency"], message: "must be 1 with distributed stages (each launches its own process group)" });
    }
    if (spec.varyData && !dataHasSeed(spec.data)) {
      ctx.addIssue({ code: "custom", path: ["varyData"], message: `the ${spec.data.source} source has no data seed to vary (its splits are fixed)` });
    }
  });

export type ExperimentSpecInput = z.input<typeof experimentSpecSchema>;
export type ExperimentSpec = z.output<typeof experimentSpecSchema>;

/** docs/ARCHITECTURE.md section 10: synthetic 64×64, small U-Net, short training, reduced steps, method two by the surrogate. */
export const DEMO_SPEC: ExperimentSpecInput = {
  name: "demo",
  data: { source: "synthetic-histology", tileSize: 64, train: 160, validation: 32, test: 48, seed: 0 },
  model: { architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear" },
  training: { epochs: 12, batchSize: 16, learningRate: 0.005, seed: 0, augment: true },
  methodOne: { epsilon: 0.01, steps: 3, budget: "per-layer" },
  methodTwo: { epsilon: 0.01, strategy: "surrogate", project: false },
  evaluation: { attack: { method: "pgd", epsilon: 0.01, steps: 10, target: "background" }, protocols: ["white-box", "transfer"] },
  sweeps: [{ model: ["M1", "M4"], attack: { method: "pgd", steps: 5, target: "background" }, epsilons: [0, 0.005, 0.02], protocol: "white-box" }],
  // Trust checks: the sweep and transfer checks come free; ε = 0.1 and twice the steps add one
  // evaluation per model each.
  trust: { largeEpsilon: 0.1, moreSteps: 20 },
};

/**
 * The study (docs/results.md): does the robustness hold beyond seed-to-seed spread, against the
 * field's adversarial-training baselines and a strong attack ensemble? Three seeds, M1-M4 plus
 * PGD-AT and SegPGD-AT, white-box, transfer and worst-case protocols, an ε-sweep of every model and
 * the trust checks; sized to finish within 45 minutes on two CPU cores. Method two's strategy is
 * pinned (greedy) so that a later change of the default does not change the study.
 */
export const STUDY_SPEC: ExperimentSpecInput = {
  name: "study",
  seeds: [0, 1, 2],
  data: { source: "synthetic-histology", tileSize: 64, train: 160, validation: 32, test: 64, seed: 0 },
  model: { architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear" },
  training: { epochs: 12, batchSize: 16, learningRate: 0.005, seed: 0, augment: true },
  methodOne: { epsilon: 0.01, steps: 3, budget: "per-layer" },
  methodTwo: { epsilon: 0.01, strategy: "greedy", project: false },
  baselines: [
    { method: "pgd-at", epsilon: 0.01, steps: 3, randomStart: true, cleanFraction: 0 },
    { method: "segpgd-at", epsilon: 0.01, steps: 3, randomStart: true, cleanFraction: 0 },
  ],
  evaluation: {
    attack: { method: "pgd", epsilon: 0.01, steps: 10, target: "background" },
    protocols: ["white-box", "transfer", "worst-case"],
    strong: { steps: 15, losses: ["ce", "balanced-ce", "js", "masked-ce", "masked-spherical"], iterate: "lowest-accuracy", progressiveRadius: true },
  },
  sweeps: [{ model: "all", attack: { method: "pgd", steps: 10, target: "background" }, epsilons: [0, 0.005, 0.01, 0.02], protocol: "white-box" }],
  trust: { largeEpsilon: 0.1, moreSteps: 30 },
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

export const PRESETS = { demo: DEMO_SPEC, paper: PAPER_SPEC, study: STUDY_SPEC } as const;
export type PresetName = keyof typeof PRESETS;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `over` deep-merged onto `base` (objects merge, everything else replaces). */
export function mergeSpec(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeSpec(base[k], v);
  // A different data source replaces the whole data block, a different backend the whole model block.
  if (isPlainObject(base.data) && isPlainObject(over.data) && over.data.source !== undefined && over.data.source !== base.data.source) {
    out.data = over.data;
  }
  if (isPlainObject(base.model) && isPlainObject(over.model) && over.model.backend !== undefined && over.model.backend !== (base.model.backend ?? DEFAULT_BACKEND)) {
    out.model = over.model;
  }
  return out;
}

/** Validates a spec object's structure and types; errors name the field path (and the file when given). */
export function parseSpec(value: unknown, file?: string): ExperimentSpec {
  const result = experimentSpecSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issuePath(issue?.path ?? []);
  let message = issue?.message ?? "invalid";
  if (issue?.code === "invalid_type" && /received undefined/.test(message)) message = "required";
  if (issue?.code === "unrecognized_keys") message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
  throw new SpecError(path, message, file);
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
    value = mergeSpec(value, resolveSpecPaths(fromFile ?? {}, dirname(resolve(options.file))));
  } else if (!options.preset) {
    throw new SpecError("", "give a spec file or --preset demo|paper");
  }
  if (options.overrides) value = mergeSpec(value, resolveSpecPaths(options.overrides, process.cwd()));
  const spec = parseSpec(value, options.file);
  await checkDataPaths(spec, options.file);
  return spec;
}

/**
 * A spec object with its paths (data folders, a model's weights file) made absolute against
 * `baseDir` (the spec file's folder, or the current directory for CLI overrides); each source
 * and backend module knows its own path fields.
 */
export function resolveSpecPaths(value: unknown, baseDir: string): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  if (isPlainObject(value.data)) out.data = resolveDataSpecPaths(value.data, baseDir);
  if (isPlainObject(value.model)) out.model = resolveModelSpecPaths(value.model, baseDir);
  return out;
}

/** The spec's data block as a dataset-creation request. */
export function specDataSource(spec: ExperimentSpec): DatasetSource {
  return sourceFromSpec(spec.data);
}

/** What a spec's data source and model read, by spec field: folders, and files (a weights file). */
export function specDataFolders(spec: ExperimentSpec): { field: string; folder: string; kind: "folder" | "file" }[] {
  return [
    ...sourceFolders(specDataSource(spec)).map((f) => ({ field: `data.${f.field}`, folder: f.folder, kind: "folder" as const })),
    ...modelFiles(spec.model).map((f) => ({ field: `model.${f.field}`, folder: f.file, kind: "file" as const })),
  ];
}

/** The worker's data roots for a spec: its data folders and the folders of the model's files. */
export function specDataRoots(spec: ExperimentSpec): string[] {
  return [...new Set(specDataFolders(spec).map((f) => (f.kind === "file" ? dirname(f.folder) : f.folder)))];
}

/** Every data folder and model file exists (errors name the field and the path). */
export async function checkDataPaths(spec: ExperimentSpec, file?: string): Promise<void> {
  for (const { field, folder, kind } of specDataFolders(spec)) {
    let ok = false;
    try {
      const st = await stat(folder);
      ok = kind === "file" ? st.isFile() : st.isDirectory();
    } catch {
      throw new SpecError(field, `no such ${kind}: ${folder}`, file);
    }
    if (!ok) throw new SpecError(field, `not a ${kind}: ${folder}`, file);
  }
}

// ---- derived parameters ----

/** M4's epochs: the spec's combinedEpochs, else round(E/3), at least 1. */
export function combinedEpochs(spec: ExperimentSpec): number {
  return spec.training.combinedEpochs ?? Math.max(1, Math.round(spec.training.epochs / 3));
}

export function methodOneAttack(spec: ExperimentSpec): LayeredPgdParams {
  return { method: "layered-pgd", ...spec.methodOne };
}

export function evaluationAttack(spec: ExperimentSpec): GradientAttackParams {
  return gradientParams(spec.evaluation.attack);
}

/** Every model of the plan: M1-M4, then the baselines in the spec's order. */
export function specModelNames(spec: ExperimentSpec): string[] {
  return [...PAPER_MODEL_NAMES, ...spec.baselines.map(baselineModelName)];
}

/** The trust checks' extra evaluations: the evaluation attack at the large ε, and with more steps (null: not run). */
export function trustAttacks(spec: ExperimentSpec): { largeEpsilon: GradientAttackParams | null; moreSteps: GradientAttackParams | null } {
  const a = evaluationAttack(spec);
  const iterative = a.method !== "fgsm" && a.steps !== undefined;
  const large = spec.trust.largeEpsilon === false ? null : { ...a, epsilon: spec.trust.largeEpsilon, stepSize: undefined };
  const steps = spec.trust.moreSteps === false || !iterative ? null : (spec.trust.moreSteps ?? 4 * (a.steps ?? 1));
  // With a given step size, more steps go further; with the default 2.5·ε/K they take smaller steps over the same ball.
  const more = steps === null || steps <= (a.steps ?? 0) ? null : { ...a, steps };
  return { largeEpsilon: large, moreSteps: more };
}

/** A sweep's attack at ε (the sweep block has no ε of its own). */
export function sweepAttack(spec: ExperimentSpec, sweep: number, epsilon: number): GradientAttackParams {
  const s = spec.sweeps[sweep];
  if (!s) throw new Error(`internal: no sweep ${sweep}`);
  return gradientParams(s.attack, epsilon);
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

/**
 * How many stages run at once: the spec's `concurrency`, else 2 on a CPU worker (a stage leaves
 * the cores idle a quarter of its time: Python between kernels, data movement, gRPC) and 1 on an
 * accelerator (two stages would share its memory) or with distributed stages.
 */
export function stageConcurrency(spec: ExperimentSpec, deviceType: string): number {
  if (spec.concurrency !== undefined) return spec.concurrency;
  if (spec.distributed || spec.training.distributed) return 1;
  return deviceType === "cpu" ? 2 : 1;
}
