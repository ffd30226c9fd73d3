// tables.md: the paper's Tables 1 and 2 (`U-Net | loss | accuracy`) plus our columns
// (foreground accuracy, mIoU, foreground → background) for M1-M4 and the adversarial-training
// baselines; the worst case over the strong ensemble with each member beside it; the trust
// checks; per-class IoU/Dice, method two's record. Over several seeds: mean ± sd per metric and
// each model's paired difference to M1 with its 95% interval, and each seed's figures.
import { formatSelectionAggregate } from "../selection/record.js";
import { describeAttack } from "../attacks/registry.js";
import { formatDifference, formatMeanSd } from "../metrics/intervals.js";
import { SWEEP_TABLE_HEAD, sweepTableRows } from "../ops/sweep.js";
import { aggregateTable, spreadVerdict, trustTable, worstCaseMembersTable } from "./aggregate-tables.js";
import type { EvaluationProtocol } from "./plan.js";
import { type EvaluationResult, type ExperimentResults, modelColumnTitle, type ModelResult } from "./results.js";

const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));

const TRAINED_ON: Record<string, string> = { M1: "clean", M2: "D1 (method one)", M3: "D2 (method two)", M4: "clean + D1 + D2" };

/** "1 (M1, clean)" for the paper's models, "PGD-AT (clean, adversarial batches)" for a baseline. */
export function modelLabel(name: string, models: readonly Pick<ModelResult, "name" | "adversarialTraining">[] = []): string {
  if (/^M\d$/.test(name)) return `${name.slice(1)} (${name}, ${TRAINED_ON[name] ?? ""})`;
  const m = models.find((x) => x.name === name);
  return m?.adversarialTraining ? `${name} (clean, every batch attacked: ${m.adversarialTraining})` : name;
}

export function evaluationsOf(results: Pick<ExperimentResults, "evaluations">, protocol: EvaluationProtocol): EvaluationResult[] {
  return results.evaluations.filter((e) => e.protocol === protocol);
}

/** One Markdown table in the paper's layout plus our columns. */
export function paperTable(rows: EvaluationResult[], modelTitle = "U-Net", models: readonly Pick<ModelResult, "name" | "adversarialTraining">[] = []): string {
  return [
    `| ${modelTitle} | loss | accuracy | foreground accuracy | mIoU | foreground → background |`,
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (e) =>
        `| ${modelLabel(e.model, models)} | ${f4(e.metrics.meanLoss)} | ${f4(e.metrics.pixelAccuracy)} | ${f4(e.metrics.foregroundAccuracy)} | ${f4(e.metrics.meanIoU)} | ${f4(
          e.foregroundToBackground,
        )} |`,
    ),
  ].join("\n");
}

function perClassTable(rows: EvaluationResult[]): string {
  const first = rows[0];
  if (!first) return "";
  const names = first.metrics.perClass.map((c) => c.name);
  return [
    `| model | ${names.map((n) => `${n} IoU / Dice`).join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
    ...rows.map((e) => `| ${e.model} | ${e.metrics.perClass.map((c) => `${f3(c.iou)} / ${f3(c.dice)}`).join(" | ")} |`),
  ].join("\n");
}

/** One Markdown table per sweep curve: ε against pixel accuracy, foreground accuracy, mIoU, loss, foreground → background. */
export function renderSweepTables(results: Pick<ExperimentResults, "sweeps" | "series">): string {
  const agg = results.series?.aggregate.sweeps;
  return results.sweeps
    .map((sw) => {
      const target = sw.attack.target === "untargeted" ? "untargeted" : `target ${sw.attack.target.class}`;
      const title = `${sw.model}${TRAINED_ON[sw.model] ? ` (${TRAINED_ON[sw.model]})` : ""}, ${sw.attack.method.toUpperCase()} ${sw.attack.method === "fgsm" ? "" : `${sw.attack.steps} steps, `}${target}, ${
        sw.protocol === "white-box" ? "white-box" : `transfer from ${sw.attackModel}`
      }`;
      if (agg) {
        const points = agg.filter((p) => p.id === sw.id);
        const n = Math.max(0, ...points.map((p) => p.seeds.length));
        return [
          `Sweep ${sw.sweep + 1}: ${title}, mean ± sd over ${n} seeds`,
          "",
          "| ε | pixel accuracy | foreground accuracy | mIoU | mean loss | foreground → background |",
          "|---:|---:|---:|---:|---:|---:|",
          ...points.map((p) => {
            const m = p.metrics;
            return `| ${p.epsilon} | ${formatMeanSd(m.pixelAccuracy, 4)} | ${formatMeanSd(m.foregroundAccuracy, 4)} | ${formatMeanSd(m.meanIoU, 4)} | ${formatMeanSd(m.meanLoss, 4)} | ${formatMeanSd(
              m.foregroundToBackground,
              4,
            )} |`;
          }),
        ].join("\n");
      }
      return [
        `Sweep ${sw.sweep + 1}: ${title} (\`${sw.file}\`)`,
        "",
        `| ${SWEEP_TABLE_HEAD.join(" | ")} |`,
        `|${SWEEP_TABLE_HEAD.map(() => "---:").join("|")}|`,
        ...sweepTableRows(sw.points).map((r) => `| ${r.join(" | ")} |`),
      ].join("\n");
    })
    .join("\n\n");
}

const TABLE_TITLES: Record<EvaluationProtocol, string> = {
  clean: "Table 1: clean test set",
  "white-box": "Table 2a: under attack, white-box",
  transfer: "Table 2b: under attack, transfer (the test set attacked once against M1, given to every model)",
  "worst-case": "Table 2c: worst case per image over the strong ensemble (white-box)",
};

/** The worst-case protocol's ensemble in words. */
function ensembleWords(results: Pick<ExperimentResults, "worstCase">): string {
  const members = results.worstCase?.[0]?.members ?? [];
  return members.length ? `${members.length} attacks: ${members.map((m) => m.label).join(", ")}` : "";
}

/** The worst case's members, each alone, beside the worst case (one seed, or mean ± sd over seeds). */
export function renderWorstCaseMembers(results: Pick<ExperimentResults, "worstCase" | "series" | "evaluations" | "models">): string {
  const agg = results.series?.aggregate.worstCase;
  const describe = (m: string) => modelLabel(m, results.models);
  if (agg && agg.length > 0) return worstCaseMembersTable(agg[0]?.labels ?? [], agg, describe);
  const rows = results.worstCase ?? [];
  const first = rows[0];
  if (!first) return "";
  return [
    `| model | ${first.members.map((m) => m.label).join(" | ")} | worst case |`,
    `|---|${first.members.map(() => "---:").join("|")}|---:|`,
    ...rows.map((w) => {
      const worst = results.evaluations.find((e) => e.model === w.model && e.protocol === "worst-case");
      return `| ${describe(w.model)} | ${w.members.map((m) => `${f3(m.metrics.foregroundAccuracy)} (${m.chosenImages})`).join(" | ")} | ${f3(worst?.metrics.foregroundAccuracy)} |`;
    }),
  ].join("\n");
}

/** Tables 1 and 2 (what `robustseg run` and `demo` print): one run, or mean ± sd over the seeds of a series. */
export function renderPaperTables(results: Pick<ExperimentResults, "evaluations" | "datasets" | "models" | "series" | "worstCase">): string {
  const test = results.datasets.find((d) => d.role === "test");
  const attack = results.evaluations.find((e) => e.attack !== null)?.attack;
  const title = modelColumnTitle(results);
  const model = results.models.find((m) => m.description)?.description;
  const series = results.series;
  const parts = [...(model ? [`M1-M4: ${model}`, ""] : [])];
  if (series) parts.push(`${series.seeds.length} seeds (${series.seeds.join(", ")}${series.varyData ? "; data seed varied too" : ""}): mean ± sd over seeds.`, "");
  const protocols: EvaluationProtocol[] = ["clean", "white-box", "transfer", "worst-case"];
  for (const p of protocols) {
    const rows = evaluationsOf(results, p);
    if (rows.length === 0) continue;
    const detail =
      p === "clean" ? ` (${test?.numImages ?? "?"} images)` : p === "white-box" ? ` (${attack ? describeAttack(attack) : ""}, computed against each model)` : p === "worst-case" ? ` (${ensembleWords(results)})` : "";
    if (parts.length > 0 && parts[parts.length - 1] !== "") parts.push("");
    parts.push(`${TABLE_TITLES[p]}${detail}`, "");
    if (series) parts.push(aggregateTable(series.aggregate.evaluations.filter((r) => r.protocol === p), (m) => modelLabel(m, results.models)));
    else parts.push(paperTable(rows, title, results.models));
  }
  return parts.join("\n");
}

/** Foreground accuracy lost under each attack protocol (clean − attacked), over seeds, with each model's paired difference to M1's loss. */
export function renderDrops(results: Pick<ExperimentResults, "series" | "models">): string {
  const rows = results.series?.aggregate.drops ?? [];
  if (rows.length === 0) return "";
  return [
    "| model | protocol | foreground accuracy lost (clean − attacked) | minus M1's loss (95% CI) |",
    "|---|---|---:|---:|",
    ...rows.map((r) => {
      const d = r.differenceToReference;
      return `| ${r.model} | ${r.protocol} | ${formatMeanSd(r.drop, 4)} | ${d ? `${formatDifference(d)}${spreadVerdict(d) ? ` (${spreadVerdict(d)})` : ""}` : "—"} |`;
    }),
  ].join("\n");
}

/** Foreground accuracy of every seed, per model and protocol. */
function perSeedTable(results: ExperimentResults): string {
  const series = results.series;
  if (!series) return "";
  const rows: string[] = [];
  for (const p of ["clean", "white-box", "transfer", "worst-case"]) {
    for (const r of series.aggregate.evaluations.filter((x) => x.protocol === p)) {
      const values = series.runs.map((run) => f4(run.evaluations.find((e) => e.model === r.model && e.protocol === p)?.metrics.foregroundAccuracy));
      rows.push(`| ${r.model} | ${p} | ${values.join(" | ")} |`);
    }
  }
  return [`| model | protocol | ${series.seeds.map((s) => `seed ${s}`).join(" | ")} |`, `|---|---|${series.seeds.map(() => "---:").join("|")}|`, ...rows].join("\n");
}

/** The trust checks of a run, or every flagged one of a series. */
export function renderTrust(results: Pick<ExperimentResults, "trust" | "series">): string {
  const series = results.series;
  if (series) return trustTable(series.aggregate.trustFlags, series.aggregate.trustChecks);
  return trustTable(results.trust?.checks ?? []);
}

export function renderTablesMarkdown(results: ExperimentResults): string {
  const parts = [
    `# ${results.name}: Tables 1 and 2`,
    "",
    "accuracy = pixel accuracy (the paper's); foreground accuracy = share of non-background pixels classified correctly; " +
      "foreground → background = share of foreground pixels predicted as background (the targeted attack's success). " +
      "All from confusion matrices over the whole test set." +
      (results.series ? " Over seeds: mean ± sample sd; Δ = the model minus M1 under the same protocol, paired by seed, with its 95% t-interval." : ""),
    "",
    renderPaperTables(results),
  ];
  const members = renderWorstCaseMembers(results);
  if (members) {
    parts.push(
      "",
      "## The worst case's members",
      "",
      "Foreground accuracy under each member of the ensemble alone (in brackets: images whose worst case it was), beside the per-image worst case.",
      "",
      members,
    );
  }
  const drops = renderDrops(results);
  if (drops) parts.push("", "## Foreground accuracy lost under attack", "", "Clean minus attacked foreground accuracy per seed, mean ± sd; a negative difference to M1 means the model loses less than M1.", "", drops);
  parts.push("", "## Trust checks", "", "Signs of gradient masking or a weak attack (Carlini et al. 2019): accuracy rising with ε, a transfer attack beating the white-box one, more steps leaving more accuracy, a large ε leaving more than 10% foreground accuracy.", "", renderTrust(results));
  if (results.series) parts.push("", "## Foreground accuracy per seed", "", perSeedTable(results), "", `Each seed's full tables: \`${results.series.runs.map((r) => r.runDir).join("`, `")}\` (tables.md, results.json, report.html).`);
  parts.push("", "## Per-class IoU / Dice" + (results.series ? ` (seed ${results.series.seeds[0]})` : ""));
  for (const p of ["clean", "white-box", "transfer", "worst-case"] as const) {
    const rows = evaluationsOf(results, p);
    if (rows.length > 0) parts.push("", `### ${p}`, "", perClassTable(rows));
  }
  parts.push("", "## Method two's choices", "", `strategy ${results.methodTwo.strategy}, ε = ${results.methodTwo.epsilon}; record: \`${results.methodTwo.recordFile}\``, "");
  parts.push(formatSelectionAggregate(results.methodTwo.aggregate));
  parts.push("", "## Datasets (class pixel shares)", "");
  const names = results.classNames;
  parts.push(`| dataset | images | ${names.join(" | ")} |`, `|---|---:|${names.map(() => "---:").join("|")}|`);
  for (const d of results.datasets) parts.push(`| ${d.role} | ${d.numImages} | ${d.classShares.map((s) => s.toFixed(4)).join(" | ")} |`);
  if (results.sweeps.length > 0) parts.push("", "## ε-sweeps (robustness curves)", "", renderSweepTables(results));
  if (results.series) {
    parts.push("", "## Seeds", "", "| seed | run folder | seconds | read back |", "|---:|---|---:|---|");
    for (const r of results.series.runs) parts.push(`| ${r.seed} | ${r.runDir} | ${r.totalSeconds.toFixed(1)} | ${r.cached ? "yes" : ""} |`);
  } else {
    parts.push("", "## Stages", "", "| stage | seconds | attempts | reused |", "|---|---:|---:|---|");
    for (const s of results.stages) parts.push(`| ${s.label} | ${s.seconds.toFixed(1)} | ${s.attempts} | ${s.reused ? "yes" : ""} |`);
  }
  parts.push("", `total ${results.totalSeconds.toFixed(1)} s`);
  return `${parts.join("\n")}\n`;
}
