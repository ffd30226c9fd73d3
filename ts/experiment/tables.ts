// tables.md: the paper's Tables 1 and 2 (`U-Net | loss | accuracy`) plus our columns
// (foreground accuracy, mIoU, foreground → background), per-class IoU/Dice, method two's record.
import { formatSelectionAggregate } from "../selection/record.js";
import { describeAttack } from "../attacks/registry.js";
import { SWEEP_TABLE_HEAD, sweepTableRows } from "../ops/sweep.js";
import type { EvaluationProtocol } from "./plan.js";
import { type EvaluationResult, type ExperimentResults, modelColumnTitle } from "./results.js";

const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(3));

const TRAINED_ON: Record<string, string> = { M1: "clean", M2: "D1 (method one)", M3: "D2 (method two)", M4: "clean + D1 + D2" };

export function evaluationsOf(results: Pick<ExperimentResults, "evaluations">, protocol: EvaluationProtocol): EvaluationResult[] {
  return results.evaluations.filter((e) => e.protocol === protocol);
}

/** One Markdown table in the paper's layout plus our columns. */
export function paperTable(rows: EvaluationResult[], modelTitle = "U-Net"): string {
  return [
    `| ${modelTitle} | loss | accuracy | foreground accuracy | mIoU | foreground → background |`,
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (e) =>
        `| ${e.model.slice(1)} (${e.model}, ${TRAINED_ON[e.model] ?? ""}) | ${f4(e.metrics.meanLoss)} | ${f4(e.metrics.pixelAccuracy)} | ${f4(
          e.metrics.foregroundAccuracy,
        )} | ${f4(e.metrics.meanIoU)} | ${f4(e.foregroundToBackground)} |`,
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
export function renderSweepTables(results: Pick<ExperimentResults, "sweeps">): string {
  return results.sweeps
    .map((sw) => {
      const target = sw.attack.target === "untargeted" ? "untargeted" : `target ${sw.attack.target.class}`;
      const title = `${sw.model} (${TRAINED_ON[sw.model] ?? ""}), ${sw.attack.method.toUpperCase()} ${sw.attack.method === "fgsm" ? "" : `${sw.attack.steps} steps, `}${target}, ${
        sw.protocol === "white-box" ? "white-box" : `transfer from ${sw.attackModel}`
      } (\`${sw.file}\`)`;
      return [
        `Sweep ${sw.sweep + 1}: ${title}`,
        "",
        `| ${SWEEP_TABLE_HEAD.join(" | ")} |`,
        `|${SWEEP_TABLE_HEAD.map(() => "---:").join("|")}|`,
        ...sweepTableRows(sw.points).map((r) => `| ${r.join(" | ")} |`),
      ].join("\n");
    })
    .join("\n\n");
}

/** Tables 1 and 2 only (what `robustseg demo` prints). */
export function renderPaperTables(results: Pick<ExperimentResults, "evaluations" | "datasets" | "models">): string {
  const test = results.datasets.find((d) => d.role === "test");
  const attack = results.evaluations.find((e) => e.attack !== null)?.attack;
  const title = modelColumnTitle(results);
  const model = results.models.find((m) => m.description)?.description;
  const parts = [
    ...(model ? [`M1-M4: ${model}`, ""] : []),
    `Table 1: clean test set (${test?.numImages ?? "?"} images)`,
    "",
    paperTable(evaluationsOf(results, "clean"), title),
  ];
  const wb = evaluationsOf(results, "white-box");
  if (wb.length > 0) {
    parts.push("", `Table 2a: under attack, white-box (${attack ? describeAttack(attack) : ""}, computed against each model)`, "", paperTable(wb, title));
  }
  const tr = evaluationsOf(results, "transfer");
  if (tr.length > 0) parts.push("", "Table 2b: under attack, transfer (the test set attacked once against M1, given to every model)", "", paperTable(tr, title));
  return parts.join("\n");
}

export function renderTablesMarkdown(results: ExperimentResults): string {
  const parts = [
    `# ${results.name}: Tables 1 and 2`,
    "",
    "accuracy = pixel accuracy (the paper's); foreground accuracy = share of non-background pixels classified correctly; " +
      "foreground → background = share of foreground pixels predicted as background (the targeted attack's success). " +
      "All from confusion matrices over the whole test set.",
    "",
    renderPaperTables(results),
    "",
    "## Per-class IoU / Dice",
  ];
  for (const p of ["clean", "white-box", "transfer"] as const) {
    const rows = evaluationsOf(results, p);
    if (rows.length > 0) parts.push("", `### ${p}`, "", perClassTable(rows));
  }
  parts.push("", "## Method two's choices", "", `strategy ${results.methodTwo.strategy}, ε = ${results.methodTwo.epsilon}; record: \`${results.methodTwo.recordFile}\``, "");
  parts.push(formatSelectionAggregate(results.methodTwo.aggregate));
  parts.push("", "## Datasets (class pixel shares)", "");
  const names = results.classNames;
  parts.push(`| dataset | images | ${names.join(" | ")} |`, `|---|---:|${names.map(() => "---:").join("|")}|`);
  for (const d of results.datasets) parts.push(`| ${d.role} | ${d.numImages} | ${d.classShares.map((s) => `${(100 * s).toFixed(1)}%`).join(" | ")} |`);
  if (results.sweeps.length > 0) parts.push("", "## ε-sweeps (robustness curves)", "", renderSweepTables(results));
  parts.push("", "## Stages", "", "| stage | seconds | reused |", "|---|---:|---|");
  for (const s of results.stages) parts.push(`| ${s.label} | ${s.seconds.toFixed(1)} | ${s.reused ? "yes" : ""} |`);
  parts.push("", `total ${results.totalSeconds.toFixed(1)} s`);
  return `${parts.join("\n")}\n`;
}
