// Runs an experiment spec's stage plan against a worker. Every stage is an artifact request (the
// worker returns the same id without recomputing when it exists) or a control-plane result cached
// in the run folder by its inputs, so a rerun reuses everything and an interrupted run resumes at
// the stage it was in. A worker that crashes during a stage is restarted and the stage retried a
// bounded number of times (docs/ARCHITECTURE.md section 12).
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { WorkerError } from "../client/errors.js";
import type { WorkerClient } from "../client/worker-client.js";
import { type AttackParams, attackSpec } from "../attacks/registry.js";
import { attackDataset } from "../ops/attack-dataset.js";
import { describeSource } from "../data-sources/registry.js";
import { createDataset, datasetOfSplit } from "../ops/create-dataset.js";
import { runSweep } from "../ops/sweep.js";
import {
  AGGREGATE_FILE,
  buildEnhancedDataset,
  CHOICES_FILE,
  chooseMethodTwoSigns,
  type MethodTwoChoice,
} from "../ops/enhance-dataset.js";
import { removeStaleTemporaries, writeFileAtomic, writeJsonAtomic } from "../files/atomic.js";
import { claimRunFolder } from "../files/run-folder.js";
import { evaluateModel } from "../ops/evaluate-model.js";
import { evaluateWorstCase, type WorstCaseOutcome } from "../ops/evaluate-worst-case.js";
import { type Reporter, silentReporter } from "../ops/reporter.js";
import { trainModel } from "../ops/train-model.js";
import { getWorkerInfo } from "../ops/worker-info.js";
import { foregroundToBackground } from "../metrics/segmentation-metrics.js";
import { writeSelectionRecords } from "../selection/record.js";
import { strategyLabel } from "../selection/strategies.js";
import { WorkerExitedError } from "../worker/errors.js";
import { RunCache } from "./cache.js";
import { StageLedger } from "./stage-ledger.js";
import { runStagesConcurrently, SharedRestart } from "./stage-scheduler.js";
import { DATASET_ROLES, type DatasetRole, type ModelName, planExperiment, type Stage, type StageId, stageDependencies } from "./plan.js";
import {
  type DatasetResult,
  type EnvironmentInfo,
  type EvaluationResult,
  type ExperimentResults,
  type MethodTwoResult,
  type ModelResult,
  RESULTS_SCHEMA,
  type StageTiming,
  type SweepResult,
  type TrustEvaluationResult,
  type TrustResults,
  type WorstCaseResult,
} from "./results.js";
import { baselineTraining, describeBaseline } from "./baselines.js";
import { evaluationAttack, type ExperimentSpec, methodOneAttack, specDataSource, specForJson, stageConcurrency, sweepAttack, trustAttacks } from "./spec.js";
import { ensembleMembers } from "./strong-evaluation.js";
import { runTrustChecks, trustInputOf } from "./trust-checks.js";
import { validateExperimentPlan } from "./validate-plan.js";
import { renderTablesMarkdown } from "./tables.js";
import { renderFigures } from "../ops/render-figures.js";
import { recordRunUsage } from "../ops/store-maintenance.js";
import { experimentFigureRequests } from "./figure-plan.js";

/** The worker a run talks to; `restart` replaces a crashed one (absent: no retries). */
export interface ExperimentWorker {
  readonly client: WorkerClient;
  restart?: (() => Promise<void>) | undefined;
}

export interface RunExperimentOptions {
  runDir: string;
  reporter?: Reporter | undefined;
  signal?: AbortSignal | undefined;
  /** Attempts per stage when the worker crashes (default 3). */
  maxAttempts?: number | undefined;
  /** Called after each finished stage (tests interrupt a run from here). */
  onStageEnd?: ((stage: Stage, timing: StageTiming) => void | Promise<void>) | undefined;
  /** Called when a stage fails because the worker crashed, before the restart. */
  onWorkerCrash?: ((stage: Stage, error: unknown, attempt: number) => void) | undefined;
  cliVersion?: string | undefined;
  /** The spec file, named in the errors of the plan check. */
  specFile?: string | undefined;
  /**
   * Write into a folder that holds another experiment's run or files robustseg did not write
   * (`run --force`); unset, such a folder is refused (ts/files/run-folder.ts).
   */
  force?: boolean | undefined;
}

export const RESULTS_FILE = "results.json";
export const TABLES_FILE = "tables.md";
export const SPEC_FILE = "spec.json";

/** A failure that a restarted worker may not repeat: the worker died or the channel broke. */
export function isWorkerCrash(error: unknown): boolean {
  if (error instanceof WorkerExitedError) return true;
  if (error instanceof WorkerError) return error.codeName === "UNAVAILABLE" || (error.codeName === "INTERNAL" && /RST_STREAM|closed|reset/i.test(error.details));
  return false;
}

class StageReporter implements Reporter {
  constructor(
    private readonly inner: Reporter,
    private readonly label: string,
  ) {}
  progress(u: Parameters<Reporter["progress"]>[0]): void {
    this.inner.progress({ ...u, stage: this.label });
  }
  endStage(): void {}
}

export async function runExperiment(worker: ExperimentWorker, spec: ExperimentSpec, options: RunExperimentOptions): Promise<ExperimentResults> {
  const runDir = resolve(options.runDir);
  const reporter = options.reporter ?? silentReporter;
  const signal = options.signal;
  const maxAttempts = options.maxAttempts ?? 3;
  const cache = new RunCache(join(runDir, "cache"));
  const startedAt = new Date();
  const t0 = performance.now();
  // The worker checks the whole plan before anything is written or run: a bad spec fails here,
  // in one line naming the spec's field.
  await validateExperimentPlan(worker.client, spec, { file: options.specFile, signal });
  // The folder must be this experiment's (or empty, or forced) before anything is written to it.
  await claimRunFolder(runDir, spec.name, specForJson(spec), options.force);
  await mkdir(runDir, { recursive: true });
  // A run killed mid-write left a temporary beside its target: gone now (the write is redone).
  await removeStaleTemporaries(runDir);
  await writeJsonAtomic(join(runDir, SPEC_FILE), specForJson(spec));

  const stages = planExperiment(spec);
  // Cancels the stages in flight when one fails (or the caller aborts).
  const stopOnFailure = new AbortController();
  const runSignal = signal ? AbortSignal.any([signal, stopOnFailure.signal]) : stopOnFailure.signal;
  const datasets = new Map<DatasetRole, DatasetResult>();
  const models = new Map<ModelName, ModelResult>();
  // In the plan's order, whatever order their stages finished in.
  const orderedDatasets = (): DatasetResult[] => DATASET_ROLES.flatMap((role) => datasets.get(role) ?? []);
  const orderedModels = (): ModelResult[] => stages.flatMap((s) => (s.kind === "train" ? (models.get(s.model) ?? []) : []));
  // Each stage's results by stage id, put in the plan's order at the end: stages that run at once
  // finish in any order, and results.json must not depend on it.
  const evaluationOf = new Map<StageId, EvaluationResult>();
  const worstCaseOf = new Map<StageId, WorstCaseResult>();
  const trustEvaluationOf = new Map<StageId, TrustEvaluationResult>();
  const sweepOf = new Map<StageId, SweepResult>();
  const timingOf = new Map<StageId, StageTiming>();
  let methodTwo: MethodTwoResult | undefined;
  let classNames: string[] = [];
  const evalAttack = evaluationAttack(spec);

  const ds = (role: DatasetRole): DatasetResult => {
    const d = datasets.get(role);
    if (!d) throw new Error(`internal: dataset ${role} is not made yet`);
    return d;
  };
  const model = (name: ModelName): ModelResult => {
    const m = models.get(name);
    if (!m) throw new Error(`internal: model ${name} is not trained yet`);
    return m;
  };

  const runStage = async (stage: Stage, ctx: { client: WorkerClient; reporter: Reporter }): Promise<boolean> => {
    const { client } = ctx;
    const opCtx = { reporter: ctx.reporter, signal: runSignal };
    switch (stage.kind) {
      case "data": {
        const source = specDataSource(spec);
        const out = await createDataset(client, source, opCtx);
        for (const split of ["train", "validation", "test"] as const) {
          const summary = datasetOfSplit(out, split);
          datasets.set(split, { ...summary, role: split, madeBy: describeSource(source), reused: out.reused });
        }
        classNames = ds("train").classNames;
        return out.reused;
      }
      case "train": {
        const trainIds = stage.trainOn.map((r) => ds(r).id);
        const out = await trainModel(
          client,
          {
            trainDatasetIds: trainIds,
            validationDatasetId: ds("validation").id,
            model: spec.model,
            training: {
              epochs: stage.epochs,
              batchSize: spec.training.batchSize,
              learningRate: spec.training.learningRate,
              seed: spec.training.seed,
              augment: spec.training.augment,
              adversarial: stage.baseline ? baselineTraining(stage.baseline) : undefined,
            },
            distributed: spec.training.distributed,
          },
          opCtx,
        );
        models.set(stage.model, {
          name: stage.model,
          id: out.model.id,
          trainedOn: stage.trainOn,
          trainDatasetIds: trainIds,
          epochs: stage.epochs,
          reused: out.reused,
          backend: out.model.backend,
          description: out.model.description,
          numParameters: out.model.numParameters,
          bestEpoch: out.model.bestEpoch,
          bestValidationLoss: out.model.bestValidationLoss,
          history: out.model.epochs,
          ...(stage.baseline ? { adversarialTraining: describeBaseline(stage.baseline) } : {}),
        });
        return out.reused;
      }
      case "method-one":
      case "transfer-attack": {
        const attack: AttackParams = stage.kind === "method-one" ? methodOneAttack(spec) : evalAttack;
        const out = await attackDataset(
          client,
          { modelId: model(stage.against).id, datasetId: ds(stage.dataset).id, attack, batchSize: spec.evaluation.batchSize, distributed: spec.distributed },
          opCtx,
        );
        datasets.set(stage.output, {
          ...out.dataset,
          role: stage.output,
          madeBy: `${stage.kind === "method-one" ? "method one" : "transfer attack"} on ${stage.dataset} against M1`,
          reused: out.reused,
          meanLinf: out.meanLinf,
          maxLinf: out.maxLinf,
        });
        return out.reused;
      }
      case "method-two": {
        const m = spec.methodTwo;
        const params = { modelId: model("M1").id, datasetId: ds("train").id, epsilon: m.epsilon, project: m.project, strategy: m.strategy };
        const key = RunCache.key("method-two", { ...params, strategy: strategyLabel(m.strategy) });
        let choice = await cache.get<MethodTwoChoice>(key);
        const cached = choice !== undefined;
        if (!choice) {
          choice = await chooseMethodTwoSigns(client, { ...params, distributed: spec.distributed }, opCtx);
          await cache.set(key, { ...params, strategy: strategyLabel(m.strategy) }, choice);
        }
        await writeSelectionRecords(join(runDir, CHOICES_FILE), choice.records);
        await writeJsonAtomic(join(runDir, AGGREGATE_FILE), choice.aggregate);
        const built = await buildEnhancedDataset(client, { ...params, distributed: spec.distributed }, choice.records, choice.classNames.length, opCtx);
        datasets.set("D2", {
          ...built.dataset,
          role: "D2",
          madeBy: `method two (${choice.strategy}) on train against M1`,
          reused: built.reused,
          meanLinf: built.meanLinf,
          maxLinf: built.maxLinf,
        });
        methodTwo = {
          strategy: choice.strategy,
          epsilon: m.epsilon,
          project: m.project,
          recordFile: CHOICES_FILE,
          aggregateFile: AGGREGATE_FILE,
          aggregate: choice.aggregate,
          scorerCalls: choice.scorerCalls,
          candidatesScored: choice.candidatesScored,
          cached,
        };
        return cached && built.reused;
      }
      case "evaluate": {
        const m = model(stage.model);
        const d = ds(stage.dataset);
        const attack = stage.protocol === "white-box" ? evalAttack : null;
        const inputs = {
          modelId: m.id,
          datasetId: d.id,
          attack: attack ? attackSpec(attack, classNames) : null,
          batchSize: spec.evaluation.batchSize,
        };
        const { value: out, cached } = await cache.getOrCompute("evaluate", inputs, () =>
          evaluateModel(client, { modelId: m.id, datasetId: d.id, batchSize: spec.evaluation.batchSize, attack: inputs.attack ?? undefined, distributed: spec.distributed }, opCtx),
        );
        evaluationOf.set(stage.id, {
          model: stage.model,
          modelId: m.id,
          protocol: stage.protocol,
          dataset: stage.dataset,
          datasetId: d.id,
          attack: stage.protocol === "clean" ? null : evalAttack,
          attackModel: stage.protocol === "clean" ? null : stage.protocol === "white-box" ? stage.model : "M1",
          numImages: out.numImages,
          numPixels: out.numPixels,
          metrics: out.metrics,
          foregroundToBackground: foregroundToBackground(out.confusion),
          confusion: out.confusion,
          cached,
        });
        return cached;
      }
      case "worst-case": {
        const m = model(stage.model);
        const d = ds(stage.dataset);
        const members = ensembleMembers(spec.evaluation.strong, evalAttack);
        const inputs = { modelId: m.id, datasetId: d.id, members: members.map((x) => attackSpec(x.params, classNames)), batchSize: spec.evaluation.batchSize };
        const { value: out, cached } = await cache.getOrCompute("worst-case", inputs, () => evaluateWorstCase(client, { ...inputs, distributed: spec.distributed }, opCtx));
        evaluationOf.set(stage.id, {
          model: stage.model,
          modelId: m.id,
          protocol: "worst-case",
          dataset: stage.dataset,
          datasetId: d.id,
          attack: null,
          attackModel: stage.model,
          numImages: out.worstCase.numImages,
          numPixels: out.worstCase.numPixels,
          metrics: out.worstCase.metrics,
          foregroundToBackground: foregroundToBackground(out.worstCase.confusion),
          confusion: out.worstCase.confusion,
          cached,
        });
        worstCaseOf.set(stage.id, {
          model: stage.model,
          modelId: m.id,
          dataset: stage.dataset,
          datasetId: d.id,
          members: members.map((x, i) => {
            const r = out.members[i] as WorstCaseOutcome["members"][number];
            return { label: x.label, attack: x.params, metrics: r.metrics, foregroundToBackground: foregroundToBackground(r.confusion), confusion: r.confusion, chosenImages: out.chosenCounts[i] ?? 0 };
          }),
          chosenMember: out.chosenMember,
          cached,
        });
        return cached;
      }
      case "trust-evaluation": {
        const m = model(stage.model);
        const d = ds(stage.dataset);
        const attack = trustAttacks(spec)[stage.check === "large-epsilon" ? "largeEpsilon" : "moreSteps"];
        if (!attack) throw new Error(`internal: no ${stage.check} attack`);
        // The same cache key as an evaluation under that attack (a sweep point may share it).
        const inputs = { modelId: m.id, datasetId: d.id, attack: attackSpec(attack, classNames), batchSize: spec.evaluation.batchSize };
        const { value: out, cached } = await cache.getOrCompute("evaluate", inputs, () =>
          evaluateModel(client, { modelId: m.id, datasetId: d.id, batchSize: spec.evaluation.batchSize, attack: inputs.attack, distributed: spec.distributed }, opCtx),
        );
        trustEvaluationOf.set(stage.id, { model: stage.model, modelId: m.id, check: stage.check, attack, metrics: out.metrics, foregroundToBackground: foregroundToBackground(out.confusion), cached });
        return cached;
      }
      case "sweep": {
        const sw = spec.sweeps[stage.sweep];
        if (!sw) throw new Error(`internal: no sweep ${stage.sweep}`);
        const m = model(stage.model);
        const d = ds(stage.dataset);
        const out = await runSweep(
          client,
          {
            modelId: m.id,
            datasetId: d.id,
            attack: (({ epsilon: _e, ...attack }) => attack)(sweepAttack(spec, stage.sweep, 0)),
            epsilons: sw.epsilons,
            attackModelId: sw.protocol === "transfer" ? model("M1").id : undefined,
            batchSize: spec.evaluation.batchSize,
            distributed: spec.distributed,
          },
          { ...opCtx, classNames, cache, cacheKey: (inputs) => RunCache.key("evaluate", inputs) },
        );
        const result: SweepResult = {
          id: stage.id,
          sweep: stage.sweep,
          model: stage.model,
          modelId: m.id,
          dataset: stage.dataset,
          datasetId: d.id,
          protocol: sw.protocol,
          attackModel: sw.protocol === "transfer" ? "M1" : stage.model,
          attack: out.attack,
          classNames: out.classNames,
          points: out.points,
          file: `sweeps/${stage.id}.json`,
        };
        await writeJsonAtomic(join(runDir, result.file), result, "sweep.write");
        sweepOf.set(stage.id, result);
        return out.points.every((p) => p.cached);
      }
      case "figures": {
        // Figure panels for the report (paper Figures 1-3, 5-8), reused when their inputs match.
        const requests = experimentFigureRequests({
          classNames,
          models: orderedModels(),
          datasets: orderedDatasets(),
          methodOneEpsilon: spec.methodOne.epsilon,
          methodOneSteps: spec.methodOne.steps,
          evaluationAttack: evalAttack,
        });
        const { reused } = await renderFigures(client, runDir, requests, classNames, {
          signal: runSignal,
          onFigure: (done, total) => ctx.reporter.progress({ stage: "", done, total, message: `${done}/${total} figures` }),
        });
        return reused;
      }
    }
  };

  const info = await getWorkerInfo(worker.client, { signal });
  const environment: EnvironmentInfo = {
    cli: options.cliVersion ?? "unknown",
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    worker: { version: info.version, device: info.device, deviceType: info.deviceType, torch: info.torchVersion, threads: info.torchThreads },
  };

  // What a stage produced, so the ledger can tell a reused result from a different one.
  const outputsOf = (stage: Stage): string => {
    switch (stage.kind) {
      case "data":
        return (["train", "validation", "test"] as const).map((r) => datasets.get(r)?.id).join(",");
      case "train":
        return models.get(stage.model)?.id ?? "";
      case "method-one":
      case "transfer-attack":
        return datasets.get(stage.output)?.id ?? "";
      case "method-two":
        return datasets.get("D2")?.id ?? "";
      case "evaluate": {
        const e = evaluationOf.get(stage.id);
        return JSON.stringify([e?.modelId, e?.datasetId, e?.protocol, e?.attack]);
      }
      case "worst-case": {
        const w = worstCaseOf.get(stage.id);
        return JSON.stringify([w?.modelId, w?.datasetId, w?.members.map((m) => m.label)]);
      }
      case "trust-evaluation": {
        const t = trustEvaluationOf.get(stage.id);
        return JSON.stringify([t?.modelId, t?.check, t?.attack]);
      }
      case "sweep": {
        const w = sweepOf.get(stage.id);
        return JSON.stringify([w?.modelId, w?.datasetId, w?.attack, w?.points.map((p) => p.epsilon)]);
      }
      case "figures":
        return "figures";
    }
  };

  const ledger = await StageLedger.open(cache.dir);
  const concurrency = stageConcurrency(spec, info.deviceType);
  const restarts = worker.restart ? new SharedRestart(worker.restart) : undefined;

  const executeStage = async (stage: Stage): Promise<void> => {
    const label = `[${stages.indexOf(stage) + 1}/${stages.length}] ${stage.label}`;
    // Stages that run at once each get a bar of their own.
    const lane = concurrency > 1 && reporter.lane ? reporter.lane(label) : reporter;
    const stageReporter = new StageReporter(lane, label);
    const s0 = performance.now();
    let attempt = 0;
    let reused = false;
    for (;;) {
      attempt++;
      await restarts?.settled();
      runSignal.throwIfAborted();
      const seenGeneration = restarts?.generation ?? 0;
      await ledger.started(stage.id);
      stageReporter.progress({ stage: label, done: 0, total: 0, message: attempt > 1 ? `attempt ${attempt}` : "" });
      try {
        reused = await runStage(stage, { client: worker.client, reporter: stageReporter });
        break;
      } catch (error) {
        // A stage that ran beside one whose crash restarted the worker fails however its next
        // call met the closed channel: retried like the stage that saw the crash.
        const crashed = restarts !== undefined && (isWorkerCrash(error) || restarts.replacedSince(seenGeneration));
        if (runSignal.aborted || !restarts || !crashed || attempt >= maxAttempts) {
          lane.endStage();
          throw error;
        }
        options.onWorkerCrash?.(stage, error, attempt);
        await restarts.afterCrash(seenGeneration);
      }
    }
    lane.endStage();
    // The original compute time and attempts, also when this run only reused the stage's result.
    const cost = await ledger.finished(stage.id, { reused, elapsed: (performance.now() - s0) / 1000, outputs: outputsOf(stage) });
    // The workspace records which artifacts this folder uses, so gc keeps them from any directory.
    await recordRunUsage(worker.client, runDir, outputsOf(stage), { signal: runSignal });
    const timing: StageTiming = { id: stage.id, label: stage.label, kind: stage.kind, seconds: cost.seconds, reused, attempts: cost.attempts };
    timingOf.set(stage.id, timing);
    await options.onStageEnd?.(stage, timing);
  };

  // Every stage whose inputs are made starts, in the plan's order, up to `concurrency` at once;
  // the first failure cancels the stages in flight and is the one thrown.
  await runStagesConcurrently(stages, stageDependencies(stages), executeStage, {
    concurrency,
    onFailure: (error) => stopOnFailure.abort(error),
  });

  const evaluations = stages.flatMap((s) => evaluationOf.get(s.id) ?? []);
  const trustEvaluations = stages.flatMap((s) => trustEvaluationOf.get(s.id) ?? []);
  const sweeps = stages.flatMap((s) => sweepOf.get(s.id) ?? []);
  const worstCase = stages.flatMap((s) => worstCaseOf.get(s.id) ?? []);
  const timings = stages.flatMap((s) => timingOf.get(s.id) ?? []);
  if (!methodTwo) throw new Error("internal: method two did not run");
  const trustOptions = { tolerance: spec.trust.tolerance, largeEpsilonMaxAccuracy: spec.trust.largeEpsilonMaxAccuracy };
  const checks = runTrustChecks(trustInputOf({ evaluations, sweeps, trustEvaluations, evaluationSteps: evalAttack.method === "fgsm" ? undefined : evalAttack.steps }), trustOptions);
  const trust: TrustResults = { options: trustOptions, evaluations: trustEvaluations, checks, flagged: checks.filter((c) => c.flagged).length };
  const results: ExperimentResults = {
    schema: RESULTS_SCHEMA,
    name: spec.name,
    runDir,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    spec: specForJson(spec),
    environment,
    classNames,
    datasets: orderedDatasets(),
    models: orderedModels(),
    evaluations,
    methodTwo,
    sweeps,
    worstCase,
    trust,
    stages: timings,
    totalSeconds: (performance.now() - t0) / 1000,
    seed: spec.training.seed,
  };
  await writeJsonAtomic(join(runDir, RESULTS_FILE), results, "results.write");
  await writeFileAtomic(join(runDir, TABLES_FILE), renderTablesMarkdown(results));
  return results;
}
