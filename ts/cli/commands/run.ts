// `robustseg run SPEC`: the paper's four-model experiment from a spec file and/or a preset; writes
// the run folder (results.json, tables.md, method-two record, spec.json) and prints Tables 1-2.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import type { ExperimentResults } from "../../experiment/results.js";
import { RESULTS_FILE, TABLES_FILE } from "../../experiment/runner.js";
import { parseSeedList, SeedListError } from "../../experiment/seeds.js";
import { runExperimentSeries } from "../../experiment/series.js";
import { type ExperimentSpec, loadSpec, PRESETS, type PresetName, specDataRoots } from "../../experiment/spec.js";
import { renderPaperTables, renderSweepTables, renderTrust } from "../../experiment/tables.js";
import { outputFolderProblem } from "../../files/paths.js";
import { runFolderProblem } from "../../files/run-folder.js";
import { CHOICES_FILE } from "../../ops/enhance-dataset.js";
import { repoRoot } from "../../worker/paths.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { fixed, seconds } from "../format.js";
import { type GlobalOptions, parseGlobalOptions } from "../global-options.js";
import { choice, outputFolder, positiveInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { parseOptions } from "../parse-options.js";
import { withWorker } from "../worker-session.js";
import { REPORT_HTML, writeReport } from "../../report/report.js";

const PRESET_NAMES = Object.keys(PRESETS) as [PresetName, ...PresetName[]];

export const runOptionsSchema = z.object({
  preset: choice(PRESET_NAMES).optional(),
  name: z.string().trim().min(1, "must not be empty").optional(),
  out: outputFolder().optional(),
  force: z.boolean().default(false),
  dataPath: z.string().trim().min(1, "must not be empty").optional(),
  concurrency: positiveInteger().optional(),
  seeds: z
    .string()
    .transform((v, ctx) => {
      try {
        return parseSeedList(v);
      } catch (error) {
        if (!(error instanceof SeedListError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message.replace(/^--seeds: /, "") });
        return z.NEVER;
      }
    })
    .optional(),
});

export const CONCURRENCY_HELP =
  "stages run at once on the worker when none needs another's output (overrides the spec's concurrency; default 2 on a CPU worker, 1 on a GPU); " +
  "the results do not depend on it";

export function cliVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** Loads the spec, runs it against a worker session and prints the result. */
export async function runAndPrint(
  context: CliContext,
  globals: GlobalOptions,
  spec: ExperimentSpec,
  outDir: string | undefined,
  specFile?: string,
  force = false,
): Promise<ExperimentResults> {
  const runDir = outDir ?? join("runs", spec.name);
  // --out was checked with the options; the default folder is checked here, before any work.
  const problem = outDir === undefined ? outputFolderProblem(runDir) : undefined;
  if (problem) throw new UsageError(`--out: the default run folder ${runDir}: ${problem}`);
  // Only this experiment's run folder (or an empty or new one) is written into, unless --force;
  // checked again, and the folder marked, when the run starts.
  const foreign = runFolderProblem(runDir, spec.name, force);
  if (foreign) throw new UsageError(`--out: ${foreign}`);
  // A spawned worker may read the spec's data folders (and any --data-root given).
  const withRoots: GlobalOptions = { ...globals, dataRoot: [...globals.dataRoot, ...specDataRoots(spec)] };
  const results = await withWorker(context, withRoots, (session) =>
    runExperimentSeries(session, spec, { runDir, reporter: session.reporter, signal: session.signal, cliVersion: cliVersion(), specFile, force }),
  );
  // The report, built from the run folder only; its path ends the text output. A series
  // has one per seed too.
  for (const run of results.series?.runs ?? []) await writeReport(join(results.runDir, run.runDir));
  const report = await writeReport(results.runDir);
  printResult(context.io, globals, results, (r) => `${renderRun(r)}\nreport: ${report.html}`);
  return results;
}

export function runCommand(context: CliContext): Command {
  return new Command("run")
    .summary("run the paper's four-model experiment from a spec file or preset")
    .description(
      "Run the paper's experiment: train M1 on clean data; build D1 (method one, layered PGD) and D2 (method two, chosen FGSM " +
        "directions) on the training set against M1; train M2 on D1, M3 on D2, M4 on clean+D1+D2 for round(E/3) epochs; evaluate " +
        "all four on the clean test set (Table 1) and under the evaluation attack, white-box and transfer from M1 (Table 2).\n\n" +
        "SPEC is a YAML or JSON file (see README.md, \"Experiment spec\"); with --preset it is merged over the preset. Its model " +
        "block chooses the backend: model: {depth, baseWidth} (the U-Net), {backend: smp, architecture, encoder} or " +
        "{backend: monai, architecture, ...}; M1-M4 share it. Every stage " +
        "is an artifact request or a result cached in the run folder, so running the same spec again reuses everything and an " +
        "interrupted run resumes at the stage it was in. Before the first stage the worker checks the whole plan (data source, " +
        "model, training, every attack): a problem is one line naming the spec's field. Writes results.json, tables.md, method-two-choices.jsonl and spec.json " +
        "to the run folder (default runs/<name>). A run folder is marked with its experiment's name (.robustseg-run.json): a folder " +
        "that holds another experiment's run, or other files, is refused unless --force.\n\n" +
        "Baselines (spec `baselines: [pgd-at, segpgd-at]`): adversarially trained models beside M1-M4, in every table. The worst-case " +
        "protocol (`evaluation.protocols: [..., worst-case]`) attacks each model with APGD under five losses plus the evaluation attack " +
        "and keeps, per image, the attack that leaves the least foreground accuracy. Trust checks flag the signs of gradient masking. " +
        "With --seeds (or the spec's `seeds`) the experiment runs once per training seed in seeds/seed-<s>/ and the tables show " +
        "mean ± sd over seeds and each model's difference to M1 with its 95% interval. --preset study runs all of it " +
        "(docs/results.md).",
    )
    .argument("[spec]", "experiment spec file (YAML or JSON)")
    .option("--preset <name>", `start from a preset (${PRESET_NAMES.join(", ")}); the spec file, if any, overrides it`)
    .option("--name <name>", "experiment name (default: the spec's; names the run folder)")
    .option("--out <dir>", "run folder (default runs/<name>)")
    .option("--force", "write into --out even when it holds another experiment's run or files robustseg did not write")
    .option("--data-path <dir>", "data folder for file-based sources (the paper preset's PanNuke folds)")
    .option("--seeds <list>", "run once per training seed, e.g. 0,1,2 or 0-2 (overrides the spec's seeds); tables show mean ± sd")
    .option("--concurrency <n>", CONCURRENCY_HELP)
    .action(async (specFile: string | undefined, _options, command: Command) => {
      const options = parseOptions(runOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const overrides: Record<string, unknown> = {};
      if (options.name) overrides.name = options.name;
      if (options.dataPath) overrides.data = { path: options.dataPath };
      if (options.seeds) overrides.seeds = options.seeds;
      if (options.concurrency) overrides.concurrency = options.concurrency;
      const spec = await loadSpec({ file: specFile, preset: options.preset, overrides });
      await runAndPrint(context, globals, spec, options.out, specFile, options.force);
    });
}

export function renderRun(results: ExperimentResults): string {
  const series = results.series;
  const agg = (model: string, protocol: string) => series?.aggregate.evaluations.find((r) => r.model === model && r.protocol === protocol)?.metrics.foregroundAccuracy.mean ?? null;
  const fg = (model: string, protocol: string) => (series ? agg(model, protocol) : (results.evaluations.find((e) => e.model === model && e.protocol === protocol)?.metrics.foregroundAccuracy ?? null));
  const m1Clean = fg("M1", "clean");
  const m1Attacked = fg("M1", "white-box");
  const reused = results.stages.filter((s) => s.reused).length;
  const flagged = series ? series.aggregate.trustFlags.length : (results.trust?.flagged ?? 0);
  const summary = [
    m1Clean !== null && m1Attacked !== null
      ? // Fractions with four digits, as in the tables printed above it (and the paper's).
        `M1 foreground accuracy${series ? " (mean over seeds)" : ""}: clean ${fixed(m1Clean, 4)}, under white-box attack ${fixed(m1Attacked, 4)}${
          fg("M1", "worst-case") !== null ? `, worst case ${fixed(fg("M1", "worst-case") as number, 4)}` : ""
        }`
      : "",
    `method two (${results.methodTwo.strategy}): ${results.methodTwo.aggregate.imagesChanged}/${results.methodTwo.aggregate.images} images changed${series ? ` (seed ${series.seeds[0]})` : ""}`,
    `trust checks: ${flagged === 0 ? "nothing flagged" : `${flagged} flagged (tables.md, "Trust checks")`}`,
    series
      ? `${series.seeds.length} seeds (${series.runs.filter((r) => r.cached).length} read back) in ${seconds(results.totalSeconds)} on ${results.environment.worker.device}`
      : `${results.stages.length} stages (${reused} reused) in ${seconds(results.totalSeconds)} on ${results.environment.worker.device}`,
    `run folder: ${results.runDir} (${RESULTS_FILE}, ${TABLES_FILE}, ${CHOICES_FILE}, ${REPORT_HTML}${series ? ", seeds/" : ""})`,
  ].filter((l) => l !== "");
  const blocks = [renderPaperTables(results), ...(results.sweeps.length > 0 ? [renderSweepTables(results)] : []), ...(flagged > 0 ? [renderTrust(results)] : []), summary.join("\n")];
  return blocks.join("\n\n");
}
