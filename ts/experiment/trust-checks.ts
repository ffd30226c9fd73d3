// Checks that robustness numbers can be trusted: the usual signs of gradient masking or of a weak
// attack (Carlini et al., "On Evaluating Adversarial Robustness", arXiv 1902.06705, 2019, §5;
// Athalye et al., ICML 2018). Each check compares foreground accuracies the run measured:
//
//   epsilon-sweep             accuracy must fall as ε grows: flagged when it rises between two
//                             consecutive ε of a sweep, or does not fall from the smallest to the
//                             largest ε at all (unless it starts at or below the large-ε ceiling:
//                             there is nothing left to take);
//   transfer-beats-white-box  an attack computed against another model must not hurt more than
//                             the one computed against the model itself;
//   more-steps                more attack steps must not leave more accuracy;
//   large-epsilon             a large ε (default 0.1, a tenth of the pixel range) must bring
//                             foreground accuracy to at most 10%.
//
// Differences within `tolerance` (default half a point) are noise, not flags. Pure: the runner
// gathers the numbers, this module judges them.

export type TrustCheckName = "epsilon-sweep" | "transfer-beats-white-box" | "more-steps" | "large-epsilon";

export interface TrustOptions {
  /** Accuracy differences up to this are noise (default 0.005). */
  tolerance: number;
  /** The large-ε check's ceiling on foreground accuracy (default 0.10). */
  largeEpsilonMaxAccuracy: number;
}

export const DEFAULT_TRUST_OPTIONS: TrustOptions = { tolerance: 0.005, largeEpsilonMaxAccuracy: 0.1 };

export interface SweepCurve {
  model: string;
  /** What the sweep is, in words (e.g. "sweep 1: PGD 5 steps, target background, white-box"). */
  label: string;
  points: readonly { epsilon: number; foregroundAccuracy: number | null }[];
}

export interface TransferPair {
  model: string;
  /** The model the transfer attack was computed against. */
  attackModel: string;
  whiteBox: number | null;
  transfer: number | null;
}

export interface StepsPair {
  model: string;
  steps: number;
  foregroundAccuracy: number | null;
  moreSteps: number;
  moreStepsForegroundAccuracy: number | null;
}

export interface LargeEpsilonPoint {
  model: string;
  epsilon: number;
  foregroundAccuracy: number | null;
}

export interface TrustInput {
  sweeps?: readonly SweepCurve[];
  transfer?: readonly TransferPair[];
  steps?: readonly StepsPair[];
  largeEpsilon?: readonly LargeEpsilonPoint[];
}

/** One check of one model: `flagged` when the numbers show the sign it looks for. */
export interface TrustCheckResult {
  check: TrustCheckName;
  model: string;
  flagged: boolean;
  /** One sentence with the numbers, for tables and the report. */
  message: string;
}

const f = (v: number) => v.toFixed(4);

function sweepCheck(curve: SweepCurve, tol: number, ceiling: number): TrustCheckResult | null {
  const points = [...curve.points]
    .filter((p): p is { epsilon: number; foregroundAccuracy: number } => typeof p.foregroundAccuracy === "number")
    .sort((a, b) => a.epsilon - b.epsilon);
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last || first.epsilon === last.epsilon) return null;
  const base = { check: "epsilon-sweep" as const, model: curve.model };
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1] as (typeof points)[number];
    const b = points[i] as (typeof points)[number];
    if (b.foregroundAccuracy > a.foregroundAccuracy + tol) {
      return {
        ...base,
        flagged: true,
        message: `${curve.label}: foreground accuracy rises from ${f(a.foregroundAccuracy)} at ε = ${a.epsilon} to ${f(b.foregroundAccuracy)} at ε = ${b.epsilon}`,
      };
    }
  }
  if (last.foregroundAccuracy >= first.foregroundAccuracy - tol && first.foregroundAccuracy > ceiling) {
    return {
      ...base,
      flagged: true,
      message: `${curve.label}: foreground accuracy does not fall from ε = ${first.epsilon} (${f(first.foregroundAccuracy)}) to ε = ${last.epsilon} (${f(last.foregroundAccuracy)})`,
    };
  }
  return { ...base, flagged: false, message: `${curve.label}: foreground accuracy falls from ${f(first.foregroundAccuracy)} to ${f(last.foregroundAccuracy)} as ε grows to ${last.epsilon}` };
}

/** Every check the input allows, per model, in a fixed order (sweeps, transfer, steps, large ε). */
export function runTrustChecks(input: TrustInput, options: Partial<TrustOptions> = {}): TrustCheckResult[] {
  const { tolerance: tol, largeEpsilonMaxAccuracy: ceiling } = { ...DEFAULT_TRUST_OPTIONS, ...options };
  const out: TrustCheckResult[] = [];
  for (const curve of input.sweeps ?? []) {
    const r = sweepCheck(curve, tol, ceiling);
    if (r) out.push(r);
  }
  for (const p of input.transfer ?? []) {
    if (p.whiteBox === null || p.transfer === null || p.attackModel === p.model) continue;
    const flagged = p.transfer < p.whiteBox - tol;
    out.push({
      check: "transfer-beats-white-box",
      model: p.model,
      flagged,
      message: `foreground accuracy ${f(p.transfer)} under the transfer attack from ${p.attackModel}, ${f(p.whiteBox)} under the white-box attack${
        flagged ? ": the attack on the model itself is the weaker one" : ""
      }`,
    });
  }
  for (const p of input.steps ?? []) {
    if (p.foregroundAccuracy === null || p.moreStepsForegroundAccuracy === null) continue;
    const flagged = p.moreStepsForegroundAccuracy > p.foregroundAccuracy + tol;
    out.push({
      check: "more-steps",
      model: p.model,
      flagged,
      message: `foreground accuracy ${f(p.foregroundAccuracy)} after ${p.steps} steps, ${f(p.moreStepsForegroundAccuracy)} after ${p.moreSteps}${
        flagged ? ": more steps left more accuracy" : ""
      }`,
    });
  }
  for (const p of input.largeEpsilon ?? []) {
    if (p.foregroundAccuracy === null) continue;
    const flagged = p.foregroundAccuracy > ceiling;
    out.push({
      check: "large-epsilon",
      model: p.model,
      flagged,
      message: `foreground accuracy ${f(p.foregroundAccuracy)} at ε = ${p.epsilon}${flagged ? ` (above ${f(ceiling)}): the attack barely works where it should win` : ""}`,
    });
  }
  return out;
}

/** The flagged results only. */
export function trustFlags(results: readonly TrustCheckResult[]): TrustCheckResult[] {
  return results.filter((r) => r.flagged);
}

/** A run's numbers as the checks read them (structural, so results.json of any seed works). */
export interface RunNumbers {
  evaluations: readonly { model: string; protocol: string; attackModel: string | null; metrics: { foregroundAccuracy: number | null } }[];
  sweeps: readonly { id: string; model: string; protocol: string; attack: { method: string; steps?: number | undefined }; points: readonly { epsilon: number; foregroundAccuracy: number | null }[] }[];
  trustEvaluations: readonly { model: string; check: "large-epsilon" | "more-steps"; attack: { epsilon: number; steps?: number | undefined }; metrics: { foregroundAccuracy: number | null } }[];
  /** The evaluation attack's steps (the more-steps check compares with them). */
  evaluationSteps: number | undefined;
}

/** The checks' input from a run: every sweep, white-box against transfer per model, and the trust evaluations. */
export function trustInputOf(run: RunNumbers): TrustInput {
  const fg = (model: string, protocol: string) => run.evaluations.find((e) => e.model === model && e.protocol === protocol);
  const models = [...new Set(run.evaluations.map((e) => e.model))];
  const transfer: TransferPair[] = [];
  for (const m of models) {
    const wb = fg(m, "white-box");
    const tr = fg(m, "transfer");
    if (wb && tr) transfer.push({ model: m, attackModel: tr.attackModel ?? "?", whiteBox: wb.metrics.foregroundAccuracy, transfer: tr.metrics.foregroundAccuracy });
  }
  const steps: StepsPair[] = [];
  for (const t of run.trustEvaluations.filter((x) => x.check === "more-steps")) {
    const wb = fg(t.model, "white-box");
    if (!wb || run.evaluationSteps === undefined || t.attack.steps === undefined) continue;
    steps.push({ model: t.model, steps: run.evaluationSteps, foregroundAccuracy: wb.metrics.foregroundAccuracy, moreSteps: t.attack.steps, moreStepsForegroundAccuracy: t.metrics.foregroundAccuracy });
  }
  return {
    sweeps: run.sweeps.map((s) => ({
      model: s.model,
      label: `${s.id} (${s.attack.method.toUpperCase()}${s.attack.steps ? ` ${s.attack.steps} steps` : ""}, ${s.protocol})`,
      points: s.points,
    })),
    transfer,
    steps,
    largeEpsilon: run.trustEvaluations.filter((t) => t.check === "large-epsilon").map((t) => ({ model: t.model, epsilon: t.attack.epsilon, foregroundAccuracy: t.metrics.foregroundAccuracy })),
  };
}
