// A run over several seeds (spec `seeds`, `robustseg run --seeds`): the experiment once per seed,
// each in `seeds/seed-<s>/` (its own results, tables, report and stage cache: an interrupted
// series resumes in the seed it was in; a finished seed for the same spec is read back), then the
// series' results.json with every seed's tables and the aggregate over seeds — mean, sd and 95%
// t-interval per metric, the paired difference of each model to M1 under each protocol, the
// sweeps' points, the worst case's members and every flagged trust check.
import { mkdir } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { removeStaleTemporaries, writeFileAtomic, writeJsonAtomic } from "../files/atomic.js";
import { canonicalJson, claimRunFolder } from "../files/run-folder.js";
import { pairedDifference, summarize } from "../metrics/intervals.js";
import type { Reporter } from "../ops/reporter.js";
import { silentReporter } from "../ops/reporter.js";
import type { ModelName } from "./plan.js";
import type { AggregateDropRow, AggregateWorstCaseRow, EvaluationResult, ExperimentResults, SeedRunResult, SeriesResults } from "./results.js";
import { type ExperimentWorker, RESULTS_FILE, runExperiment, type RunExperimentOptions, SPEC_FILE, TABLES_FILE } from "./runner.js";
import { aggregateSeeds, aggregateSweepPoints, type MetricValues } from "./seed-aggregate.js";
import { runSeedSeries, specForSeed } from "./seeds.js";
import { type ExperimentSpec, specForJson } from "./spec.js";
import { renderTablesMarkdown } from "./tables.js";

/** The spec of one seed of a series: a single run (no `seeds`) with that training (and data) seed. */
export function seedSpec(spec: ExperimentSpec, seed: number): ExperimentSpec {
  return specForSeed({ ...spec, seeds: undefined }, seed, spec.varyData);
}

/** A reporter whose stage labels say which seed they belong to. */
function seedReporter(inner: Reporter, seed: number, index: number, total: number): Reporter {
  const named = (stage: string) => `seed ${seed} (${index + 1}/${total}) ${stage}`;
  const prefixed = (r: Reporter): Reporter => ({ progress: (u) => r.progress({ ...u, stage: named(u.stage) }), endStage: () => r.endStage() });
  const lane = inner.lane?.bind(inner);
  return { ...prefixed(inner), ...(lane ? { lane: (label: string) => prefixed(lane(named(label))) } : {}) };
}

export function metricValues(e: Pick<EvaluationResult, "metrics" | "foregroundToBackground">): MetricValues {
  const m = e.metrics;
  return {
    pixelAccuracy: m.pixelAccuracy,
    foregroundAccuracy: m.foregroundAccuracy,
    meanIoU: m.meanIoU,
    meanDice: m.meanDice,
    meanLoss: m.meanLoss,
    foregroundToBackground: e.foregroundToBackground,
  };
}

function seedRunOf(results: ExperimentResults, seed: number, cached: boolean, seriesDir: string): SeedRunResult {
  return {
    seed,
    runDir: relative(seriesDir, results.runDir) || ".",
    cached,
    totalSeconds: results.totalSeconds,
    models: results.models.map(({ name, id, bestEpoch, bestValidationLoss, epochs }) => ({ name, id, bestEpoch, bestValidationLoss, epochs })),
    evaluations: results.evaluations,
    worstCase: results.worstCase ?? [],
    sweeps: results.sweeps,
    trust: results.trust ?? null,
  };
}

/** The aggregate over seeds of the series' runs. */
export function aggregateSeries(runs: readonly SeedRunResult[]): SeriesResults["aggregate"] {
  const evaluations = aggregateSeeds(runs.map((r) => ({ seed: r.seed, rows: r.evaluations.map((e) => ({ model: e.model, protocol: e.protocol, values: metricValues(e) })) })));
  const sweeps = aggregateSweepPoints(
    runs.map((r) => ({
      seed: r.seed,
      points: r.sweeps.flatMap((s) =>
        s.points.map((p) => ({
          id: s.id,
          model: s.model,
          epsilon: p.epsilon,
          values: { pixelAccuracy: p.pixelAccuracy, foregroundAccuracy: p.foregroundAccuracy, meanIoU: p.meanIoU, meanDice: p.meanDice, meanLoss: p.meanLoss, foregroundToBackground: p.foregroundToBackground },
        })),
      ),
    })),
  );
  const worstCase: AggregateWorstCaseRow[] = [];
  const first = runs[0];
  for (const w of first?.worstCase ?? []) {
    const perSeed = runs.map((r) => r.worstCase.find((x) => x.model === w.model));
    const worstRows = runs.map((r) => r.evaluations.find((e) => e.model === w.model && e.protocol === "worst-case"));
    worstCase.push({
      model: w.model as ModelName,
      labels: w.members.map((m) => m.label),
      members: w.members.map((_, i) => summarize(perSeed.map((x) => x?.members[i]?.metrics.foregroundAccuracy))),
      worstCase: summarize(worstRows.map((e) => e?.metrics.foregroundAccuracy)),
      chosen: w.members.map((_, i) => perSeed.reduce((a, x) => a + (x?.members[i]?.chosenImages ?? 0), 0)),
    });
  }
  const trustFlags = runs.flatMap((r) => (r.trust?.checks ?? []).filter((c) => c.flagged).map((c) => ({ ...c, seed: r.seed })));
  const trustChecks = runs.reduce((a, r) => a + (r.trust?.checks.length ?? 0), 0);
  return { evaluations, sweeps, worstCase, drops: aggregateDrops(runs), trustFlags, trustChecks };
}

/** Per model and attack protocol: clean minus attacked foreground accuracy over seeds, and the paired difference to M1's drop. */
export function aggregateDrops(runs: readonly SeedRunResult[], reference = "M1"): AggregateDropRow[] {
  const fg = (run: SeedRunResult, model: string, protocol: string) => run.evaluations.find((e) => e.model === model && e.protocol === protocol)?.metrics.foregroundAccuracy ?? null;
  const drop = (run: SeedRunResult, model: string, protocol: string) => {
    const clean = fg(run, model, "clean");
    const attacked = fg(run, model, protocol);
    return clean === null || attacked === null ? null : clean - attacked;
  };
  const rows: AggregateDropRow[] = [];
  const first = runs[0];
  for (const protocol of ["white-box", "transfer", "worst-case"] as const) {
    for (const e of first?.evaluations.filter((x) => x.protocol === protocol) ?? []) {
      const drops = runs.map((r) => drop(r, e.model, protocol));
      rows.push({
        model: e.model,
        protocol,
        drop: summarize(drops),
        differenceToReference: e.model === reference ? null : pairedDifference(drops, runs.map((r) => drop(r, reference, protocol))),
      });
    }
  }
  return rows;
}

/**
 * Runs a spec: once (no `seeds`: exactly runExperiment), or once per seed as a series. The series'
 * results.json holds the first seed's results (so one-run readers still work), `series` with every
 * seed's tables and the aggregate.
 */
export async function runExperimentSeries(worker: ExperimentWorker, spec: ExperimentSpec, options: RunExperimentOptions): Promise<ExperimentResults> {
  if (!spec.seeds) return runExperiment(worker, spec, options);
  const seeds = spec.seeds;
  const runDir = resolve(options.runDir);
  const reporter = options.reporter ?? silentReporter;
  const startedAt = new Date();
  const t0 = performance.now();
  // The series' folder is checked and marked like a run's; each seed's folder inside it too.
  await claimRunFolder(runDir, spec.name, specForJson(spec), options.force);
  await mkdir(runDir, { recursive: true });
  // The series' own files (results.json, tables.md) are written here: a killed write's temporary goes.
  await removeStaleTemporaries(runDir);
  await writeJsonAtomic(join(runDir, SPEC_FILE), specForJson(spec));
  const outcomes = await runSeedSeries<ExperimentResults>({
    seeds,
    runDir,
    signal: options.signal,
    runOne: (seed, dir) =>
      runExperiment(worker, seedSpec(spec, seed), { ...options, runDir: dir, reporter: seedReporter(reporter, seed, seeds.indexOf(seed), seeds.length) }),
    reuse: (seed, _dir, previous) => canonicalJson(previous.spec) === canonicalJson(specForJson(seedSpec(spec, seed))),
  });
  const runs = outcomes.map((o) => seedRunOf(o.results, o.seed, o.cached, runDir));
  const firstOutcome = outcomes[0];
  if (!firstOutcome) throw new Error("internal: a series without seeds");
  const first = firstOutcome.results;
  const results: ExperimentResults = {
    ...first,
    name: spec.name,
    runDir,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    spec: specForJson(spec),
    totalSeconds: (performance.now() - t0) / 1000,
    series: { seeds: [...seeds], varyData: spec.varyData, runs, aggregate: aggregateSeries(runs) },
  };
  await writeJsonAtomic(join(runDir, RESULTS_FILE), results);
  await writeFileAtomic(join(runDir, TABLES_FILE), renderTablesMarkdown(results));
  return results;
}
