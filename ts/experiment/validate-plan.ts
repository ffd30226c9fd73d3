// Before the first stage runs, the worker checks the whole plan with the same checks the work
// itself runs (ValidatePlan): the data source (paths, data roots, class names), the model spec
// M1-M4 share, the training configs (M1-M3's and M4's epochs), and every attack (method one,
// the evaluation attack, each sweep's attack at each ε). The worker names a field of its request
// ("models[0].smp.encoder"); we name the spec's ("model.encoder") in a SpecError, so a bad spec
// fails in one line before any dataset is made. Ranges and meaning are checked only there.
import { type AttackParams, AttackParamsError, attackModule, attackSpec } from "../attacks/registry.js";
import { type ModelParams, modelParamsOf, modelSpec, modelSpecField } from "../backends/registry.js";
import { WorkerError } from "../client/errors.js";
import type { WorkerClient } from "../client/worker-client.js";
import { dataSourceToProto, sourceSpecField } from "../data-sources/registry.js";
import { camelPath, splitFieldMessage } from "../extensions/field-paths.js";
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import { trainingConfig } from "../ops/train-model.js";
import { baselineTraining } from "./baselines.js";
import { combinedEpochs, evaluationAttack, type ExperimentSpec, methodOneAttack, SpecError, specDataSource, sweepAttack, trustAttacks } from "./spec.js";
import { ensembleMembers } from "./strong-evaluation.js";

/** An attack of the plan and the spec field that made it. */
export interface PlannedAttack {
  params: AttackParams;
  /** "methodOne", "evaluation.attack", "sweeps[0].attack". */
  field: string;
  /** A sweep's ε comes from its list: "sweeps[0].epsilons[2]". */
  epsilonField?: string | undefined;
  /** Other fields the spec sets elsewhere, by contract field: {steps: "trust.moreSteps"}. */
  fieldOverrides?: Record<string, string> | undefined;
}

/** Every attack the experiment will run, in a fixed order (the request's attacks[k]). */
export function plannedAttacks(spec: ExperimentSpec): PlannedAttack[] {
  const out: PlannedAttack[] = [
    { params: methodOneAttack(spec), field: "methodOne" },
    { params: evaluationAttack(spec), field: "evaluation.attack" },
  ];
  spec.sweeps.forEach((s, i) =>
    s.epsilons.forEach((eps, j) => {
      if (eps > 0) out.push({ params: sweepAttack(spec, i, eps), field: `sweeps[${i}].attack`, epsilonField: `sweeps[${i}].epsilons[${j}]` });
    }),
  );
  if (spec.evaluation.protocols.includes("worst-case")) {
    for (const m of ensembleMembers(spec.evaluation.strong, evaluationAttack(spec))) {
      if (m.field === "evaluation.attack") continue; // already checked above
      out.push({ params: m.params, field: "evaluation.strong", fieldOverrides: { loss: m.field }, epsilonField: spec.evaluation.strong.epsilon === undefined ? "evaluation.attack.epsilon" : undefined });
    }
  }
  const trust = trustAttacks(spec);
  if (trust.largeEpsilon) out.push({ params: trust.largeEpsilon, field: "evaluation.attack", epsilonField: "trust.largeEpsilon" });
  if (trust.moreSteps) out.push({ params: trust.moreSteps, field: "evaluation.attack", fieldOverrides: { steps: "trust.moreSteps" } });
  return out;
}

/** The training configs of the plan: trainings[0] for M1-M3, trainings[1] for M4, trainings[2 + k] for baselines[k]. */
function plannedTrainings(spec: ExperimentSpec) {
  const t = spec.training;
  const config = { batchSize: t.batchSize, learningRate: t.learningRate, seed: t.seed, augment: t.augment };
  return [
    trainingConfig({ epochs: t.epochs, ...config }),
    trainingConfig({ epochs: combinedEpochs(spec), ...config }),
    ...spec.baselines.map((b) => trainingConfig({ epochs: b.epochs ?? t.epochs, ...config, adversarial: baselineTraining(b) })),
  ];
}

/**
 * A field of the ValidatePlan request in the spec's words: "models[0].smp.encoder_depth" →
 * "model.encoderDepth", "source.folder.test_fraction" → "data.testFraction", "attacks[1].gradient.epsilon"
 * → "evaluation.attack.epsilon", "trainings[1].epochs" → "training.combinedEpochs".
 */
export function specFieldOfPlanField(field: string, spec: ExperimentSpec, attacks: readonly PlannedAttack[] = plannedAttacks(spec)): string {
  const m = /^([a-z_]+)(?:\[(\d+)\])?(?:\.(.*))?$/.exec(field);
  if (!m) return field;
  const [, head, indexText, rest = ""] = m;
  const index = indexText === undefined ? 0 : Number(indexText);
  const join = (base: string, sub: string) => (sub ? `${base}.${sub}` : base);
  switch (head) {
    case "source":
      return join("data", sourceSpecField(spec.data.source, rest));
    case "num_classes":
      return "data";
    case "models": {
      const sub = modelSpecField(rest);
      // The oneof member alone ("models[0].smp") is the whole block.
      return join("model", /^(unet|smp|monai)?$/.test(rest) ? "" : sub);
    }
    case "trainings": {
      if (rest === "epochs" && index === 1) return spec.training.combinedEpochs !== undefined ? "training.combinedEpochs" : "training.epochs";
      const baseline = index >= 2 ? spec.baselines[index - 2] : undefined;
      if (baseline) {
        if (rest.startsWith("adversarial.")) return join(`baselines[${index - 2}]`, camelPath(rest.slice("adversarial.".length)).replace(/^method$/, ""));
        if (rest === "epochs" && baseline.epochs !== undefined) return `baselines[${index - 2}].epochs`;
      }
      return join("training", camelPath(rest));
    }
    case "attacks": {
      const a = attacks[index];
      if (!a) return field;
      const [member = "", ...parts] = rest.split(".");
      const sub = parts.join(".");
      if (sub === "epsilon" && a.epsilonField) return a.epsilonField;
      const override = a.fieldOverrides?.[sub];
      if (override) return override;
      if (!member || !sub) return a.field;
      const module = attackModule(a.params.method);
      return join(a.field, module.specField(sub));
    }
    default:
      return field;
  }
}

export interface PlanCheck {
  /** The data source's classes, background first. */
  classNames: string[];
  /** The model spec with the worker's defaults filled (null for a backend this CLI does not know). */
  model: ModelParams | null;
}

function specErrorOf(error: unknown, spec: ExperimentSpec, attacks: readonly PlannedAttack[], file: string | undefined): unknown {
  // INVALID_ARGUMENT: a field the worker refuses; FAILED_PRECONDITION with a field: one this
  // worker cannot serve (a backend whose package is not installed there).
  if (!(error instanceof WorkerError) || (error.codeName !== "INVALID_ARGUMENT" && error.codeName !== "FAILED_PRECONDITION")) return error;
  if (error.codeName === "FAILED_PRECONDITION" && !splitFieldMessage(error.details)) return error;
  const parts = splitFieldMessage(error.details);
  if (!parts) return new SpecError("", error.details, file);
  return new SpecError(specFieldOfPlanField(parts.field, spec, attacks), parts.message, file);
}

/**
 * Asks the worker to check the whole plan; a problem is a SpecError naming the spec file and the
 * spec's field. Returns undefined from a worker that predates ValidatePlan (the stages still check).
 */
export async function validateExperimentPlan(
  client: WorkerClient,
  spec: ExperimentSpec,
  options: { file?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<PlanCheck | undefined> {
  const { file, signal } = options;
  const attacks = plannedAttacks(spec);
  const call = async (request: Parameters<WorkerClient["validatePlan"]>[0]) => {
    try {
      return await client.validatePlan(request, { signal, timeoutMs: 120_000 });
    } catch (error) {
      if (error instanceof WorkerError && error.codeName === "UNIMPLEMENTED") return undefined;
      throw specErrorOf(error, spec, attacks, file);
    }
  };
  // First the source, model and trainings: the source's classes resolve the attacks' targets.
  const first = await call({ source: dataSourceToProto(specDataSource(spec)), models: [modelSpec(spec.model)], trainings: plannedTrainings(spec), attacks: [], numClasses: 0 });
  if (!first) return undefined;
  const classNames = [...first.classNames];
  const protos: AttackSpec[] = classNames.length === 0 ? [] : attacks.map((a) => {
    try {
      return attackSpec(a.params, classNames);
    } catch (error) {
      if (!(error instanceof AttackParamsError)) throw error;
      const [what = "", ...msg] = error.message.split(": ");
      throw new SpecError(`${a.field}.${what}`, msg.join(": "), file);
    }
  });
  // Without class names (a worker that cannot tell before reading data) the attacks are checked by their stages.
  if (protos.length > 0 && classNames.length > 0) await call({ source: undefined, models: [], trainings: [], attacks: protos, numClasses: classNames.length });
  return { classNames, model: modelParamsOf(first.models[0]) };
}
