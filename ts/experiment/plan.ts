// The stage plan of the paper's experiment (docs/ARCHITECTURE.md section 10): data → M1 → D1, D2 → M2, M3, M4 →
// the adversarial-training baselines the spec adds → evaluations (clean, white-box, transfer,
// worst-case) → the trust checks' extra evaluations → ε-sweeps → figures. Pure: the runner executes it.
import { type BaselineModelName, type BaselineSpec, baselineModelName, describeBaseline } from "./baselines.js";
import { combinedEpochs, type ExperimentSpec, specModelNames, trustAttacks } from "./spec.js";

export const MODEL_NAMES = ["M1", "M2", "M3", "M4"] as const;
export type PaperModelName = (typeof MODEL_NAMES)[number];
/** The paper's four models and the baselines (PGD-AT, SegPGD-AT). */
export type ModelName = PaperModelName | BaselineModelName;
/** Datasets by role: the splits, method one's and two's training sets, the test set attacked against M1. */
export const DATASET_ROLES = ["train", "validation", "test", "D1", "D2", "test-transfer"] as const;
export type DatasetRole = (typeof DATASET_ROLES)[number];
export type EvaluationProtocol = "clean" | "white-box" | "transfer" | "worst-case";
/** The trust checks that need an evaluation of their own. */
export type TrustEvaluationCheck = "large-epsilon" | "more-steps";

export type Stage =
  | { id: "data"; kind: "data"; label: string }
  | { id: `train-${ModelName}`; kind: "train"; label: string; model: ModelName; trainOn: DatasetRole[]; epochs: number; baseline?: BaselineSpec | undefined }
  | { id: "method-one"; kind: "method-one"; label: string; output: "D1"; against: "M1"; dataset: "train" }
  | { id: "method-two"; kind: "method-two"; label: string; output: "D2"; against: "M1"; dataset: "train" }
  | { id: "transfer-attack"; kind: "transfer-attack"; label: string; output: "test-transfer"; against: "M1"; dataset: "test" }
  | {
      id: `evaluate-${ModelName}-${Exclude<EvaluationProtocol, "worst-case">}`;
      kind: "evaluate";
      label: string;
      model: ModelName;
      protocol: Exclude<EvaluationProtocol, "worst-case">;
      dataset: "test" | "test-transfer";
    }
  | { id: `worst-case-${ModelName}`; kind: "worst-case"; label: string; model: ModelName; dataset: "test" }
  | { id: `check-${TrustEvaluationCheck}-${ModelName}`; kind: "trust-evaluation"; label: string; model: ModelName; check: TrustEvaluationCheck; dataset: "test" }
  | { id: "figures"; kind: "figures"; label: string }
  | { id: `sweep-${number}-${ModelName}`; kind: "sweep"; label: string; sweep: number; model: ModelName; dataset: "test" };

export type StageId = Stage["id"];

/** The models a sweep names ("all" = every model of the plan, in order). */
export function sweepModels(model: string | readonly string[], planModels: readonly string[] = MODEL_NAMES): ModelName[] {
  const names = typeof model === "string" ? [model] : model;
  return planModels.filter((m) => names.includes(m) || names.includes("all")) as ModelName[];
}

export function planExperiment(spec: ExperimentSpec): Stage[] {
  const e = spec.training.epochs;
  const protocols = spec.evaluation.protocols;
  const models = specModelNames(spec) as ModelName[];
  const stages: Stage[] = [
    { id: "data", kind: "data", label: "data" },
    { id: "train-M1", kind: "train", label: "train M1 (clean)", model: "M1", trainOn: ["train"], epochs: e },
    { id: "method-one", kind: "method-one", label: "D1: method one vs M1", output: "D1", against: "M1", dataset: "train" },
    { id: "method-two", kind: "method-two", label: "D2: method two vs M1", output: "D2", against: "M1", dataset: "train" },
    { id: "train-M2", kind: "train", label: "train M2 (D1)", model: "M2", trainOn: ["D1"], epochs: e },
    { id: "train-M3", kind: "train", label: "train M3 (D2)", model: "M3", trainOn: ["D2"], epochs: e },
    { id: "train-M4", kind: "train", label: "train M4 (clean+D1+D2)", model: "M4", trainOn: ["train", "D1", "D2"], epochs: combinedEpochs(spec) },
  ];
  for (const b of spec.baselines) {
    const name = baselineModelName(b);
    stages.push({ id: `train-${name}`, kind: "train", label: `train ${name} (${describeBaseline(b)})`, model: name, trainOn: ["train"], epochs: b.epochs ?? e, baseline: b });
  }
  for (const m of models) stages.push({ id: `evaluate-${m}-clean`, kind: "evaluate", label: `evaluate ${m} clean`, model: m, protocol: "clean", dataset: "test" });
  if (protocols.includes("white-box")) {
    for (const m of models) {
      stages.push({ id: `evaluate-${m}-white-box`, kind: "evaluate", label: `evaluate ${m} white-box`, model: m, protocol: "white-box", dataset: "test" });
    }
  }
  if (protocols.includes("transfer")) {
    stages.push({ id: "transfer-attack", kind: "transfer-attack", label: "attack test set vs M1", output: "test-transfer", against: "M1", dataset: "test" });
    for (const m of models) {
      stages.push({ id: `evaluate-${m}-transfer`, kind: "evaluate", label: `evaluate ${m} transfer`, model: m, protocol: "transfer", dataset: "test-transfer" });
    }
  }
  if (protocols.includes("worst-case")) {
    for (const m of models) stages.push({ id: `worst-case-${m}`, kind: "worst-case", label: `worst case over the strong ensemble: ${m}`, model: m, dataset: "test" });
  }
  // Trust checks (Carlini et al. 2019): the evaluation attack at a large ε and with more steps.
  const trust = trustAttacks(spec);
  for (const [check, attack] of [["large-epsilon", trust.largeEpsilon], ["more-steps", trust.moreSteps]] as const) {
    if (!attack) continue;
    const what = check === "large-epsilon" ? `ε = ${attack.epsilon}` : `${attack.steps} steps`;
    for (const m of models) stages.push({ id: `check-${check}-${m}`, kind: "trust-evaluation", label: `trust check ${m}: evaluation attack at ${what}`, model: m, check, dataset: "test" });
  }
  // ε-sweeps: one stage per sweep and model, after the evaluations.
  for (const [i, sweep] of (spec.sweeps ?? []).entries()) {
    for (const m of sweepModels(sweep.model, models)) {
      const eps = sweep.epsilons.join(", ");
      stages.push({ id: `sweep-${i + 1}-${m}`, kind: "sweep", label: `sweep ${i + 1}: ${m} ${sweep.attack.method} ${sweep.protocol} ε ∈ {${eps}}`, sweep: i, model: m, dataset: "test" });
    }
  }
  // The report's figure panels: after everything they show.
  stages.push({ id: "figures", kind: "figures", label: "figures (panels for the report)" });
  return stages;
}

/** The stage that makes each dataset role. */
const PRODUCER: Record<DatasetRole, StageId> = {
  train: "data",
  validation: "data",
  test: "data",
  D1: "method-one",
  D2: "method-two",
  "test-transfer": "transfer-attack",
};

/**
 * What each stage of a plan needs finished before it starts: the stages that make its models and
 * datasets (figures: every other stage, as they show all of them). Stages with nothing between
 * them may run at once (the runner's `concurrency`); the plan's order is the order they start in.
 */
export function stageDependencies(stages: readonly Stage[]): Map<StageId, StageId[]> {
  const ids = new Set(stages.map((s) => s.id));
  const needs = (stage: Stage): StageId[] => {
    switch (stage.kind) {
      case "data":
        return [];
      case "train":
        return [...stage.trainOn.map((r) => PRODUCER[r]), "data"];
      case "method-one":
      case "method-two":
      case "transfer-attack":
        return ["data", "train-M1"];
      case "evaluate":
        return ["data", `train-${stage.model}`, PRODUCER[stage.dataset]];
      case "worst-case":
      case "trust-evaluation":
        return ["data", `train-${stage.model}`];
      case "sweep":
        // A transfer sweep attacks through M1.
        return ["data", `train-${stage.model}`, "train-M1"];
      case "figures":
        return stages.filter((s) => s.id !== stage.id).map((s) => s.id);
    }
  };
  return new Map(stages.map((s) => [s.id, [...new Set(needs(s))].filter((id) => id !== s.id && ids.has(id))]));
}
