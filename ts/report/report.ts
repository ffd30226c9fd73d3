// report.html and report.md, built from the run folder only (results.json, figures.json and
// figures/*.png, optional selection-comparison.json): no worker, nothing recomputed. report.html
// is one self-contained file: CSS, SVG charts and PNG panels (data: URIs) inlined, no scripts.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describeAttack } from "../attacks/registry.js";
import { writeFileAtomic } from "../files/atomic.js";
import { type EvaluationResult, type ExperimentResults, modelColumnTitle, RESULTS_SCHEMA } from "../experiment/results.js";
import { renderPaperTables } from "../experiment/tables.js";
import {
  type Chart,
  choicesSpec,
  type ChoiceRow,
  type HistoryRow,
  protocolBarsSpec,
  renderVegaLiteSvg,
  selectionComparisonSpec,
  type StrategyRow,
  sweepSpec,
  type SweepRow,
  validationLossSpec,
} from "./charts.js";
import {
  aggregateSweepRows,
  aggregateTableHtml,
  dropsHtml,
  PROTOCOL_TITLE,
  PROTOCOLS,
  protocolBarRows,
  robustnessMarkdown,
  trainedOnText,
  trustHtml,
  worstCaseHtml,
} from "./robustness-sections.js";
import { type FiguresIndex, readFiguresIndex } from "../run-folder/figures-index.js";

export const REPORT_HTML = "report.html";
export const REPORT_MD = "report.md";
export const SELECTION_COMPARISON_FILE = "selection-comparison.json";


/** HTML-escapes text for element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}
/** Escapes text for a Markdown table cell. */
function mdCell(value: unknown): string {
  return String(value ?? "").replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}
const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
// Shares as fractions with four digits, like every other figure in the report and the tables.
const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
const secs = (v: number) => (v < 60 ? `${v.toFixed(1)} s` : `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`);

export interface ReportInputs {
  runDir: string;
  results: ExperimentResults;
  figures: FiguresIndex | undefined;
  selectionComparison: unknown;
}

/** A JSON file of the run folder, or an error naming it (a file cut short by a killed run, not JSON at all). */
async function readJsonFile(file: string): Promise<unknown> {
  const text = await readFile(file, "utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const why = text.trim() === "" ? "empty" : `not valid JSON (${(error as Error).message})`;
    throw new Error(`${file}: ${why}; rerun \`robustseg run\` with the same spec to write it again`);
  }
}

// The parts of results.json the report reads, each checked so a damaged file is named, not a
// "Cannot read properties of null" from deep inside a table.
const RESULTS_SHAPE: [string, "array" | "object"][] = [
  ["spec", "object"],
  ["environment", "object"],
  ["classNames", "array"],
  ["datasets", "array"],
  ["models", "array"],
  ["evaluations", "array"],
  ["stages", "array"],
];

function checkResults(value: unknown, file: string): ExperimentResults {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${file}: not a results document (a JSON object)`);
  const r = value as Record<string, unknown>;
  if (r.schema !== RESULTS_SCHEMA) throw new Error(`${file}: schema ${JSON.stringify(r.schema)} is not ${RESULTS_SCHEMA}`);
  for (const [field, kind] of RESULTS_SHAPE) {
    const v = r[field];
    const ok = kind === "array" ? Array.isArray(v) : v !== null && typeof v === "object" && !Array.isArray(v);
    if (!ok) throw new Error(`${file}: ${field}: must be ${kind === "array" ? "a list" : "an object"}, got ${v === null ? "null" : Array.isArray(v) ? "a list" : typeof v}`);
  }
  for (const [field, item] of [["models", "history"], ["evaluations", "metrics"]] as const) {
    (r[field] as unknown[]).forEach((entry, i) => {
      const e = entry as Record<string, unknown> | null;
      if (e === null || typeof e !== "object" || e[item] === null || e[item] === undefined) throw new Error(`${file}: ${field}[${i}].${item}: missing`);
    });
  }
  return value as ExperimentResults;
}

export async function readReportInputs(runDirIn: string): Promise<ReportInputs> {
  const runDir = resolve(runDirIn);
  const resultsFile = join(runDir, "results.json");
  if (!existsSync(resultsFile)) throw new Error(`${runDirIn}: no results.json (is it a run folder of \`robustseg run\`?)`);
  const results = checkResults(await readJsonFile(resultsFile), resultsFile);
  const figures = await readFiguresIndex(runDir);
  let selectionComparison: unknown;
  const sc = join(runDir, SELECTION_COMPARISON_FILE);
  if (existsSync(sc)) selectionComparison = await readJsonFile(sc);
  return { runDir, results, figures, selectionComparison };
}

// ---- chart data ----

function historyRows(r: ExperimentResults): HistoryRow[] {
  return r.models.flatMap((m) => m.history.map((h) => ({ model: m.name, epoch: h.epoch, validationLoss: h.validationLoss, trainLoss: h.trainLoss })));
}

function choiceRows(r: ExperimentResults): ChoiceRow[] {
  return (r.methodTwo?.aggregate?.perClass ?? []).flatMap((c) =>
    (["added", "removed", "skipped"] as const).map((action) => ({ class: c.name, classIndex: c.class, action, images: c[action] })),
  );
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" ? (v as Record<string, unknown>) : {});
const SWEEP_METRICS: [string, string][] = [
  ["pixelAccuracy", "pixel accuracy"],
  ["foregroundAccuracy", "foreground accuracy"],
  ["meanIoU", "mIoU"],
];

/**
 * ε-sweep curves from results.json `sweeps[]`, read tolerantly: a sweep has points (`points`,
 * `curve` or `results`) with `epsilon` and the metrics either on the point or under `metrics`;
 * its series is named by `model` (else `name`/`id`), plus the attack method when sweeps differ.
 */
export function sweepRows(sweeps: unknown): { rows: SweepRow[]; titles: string[] } {
  const rows: SweepRow[] = [];
  const titles: string[] = [];
  if (!Array.isArray(sweeps)) return { rows, titles };
  for (const [i, raw] of sweeps.entries()) {
    const s = obj(raw);
    const attack = obj(s.attack);
    const method = typeof attack.method === "string" ? attack.method : typeof s.method === "string" ? s.method : undefined;
    const base = String(s.model ?? s.name ?? s.id ?? `sweep ${i + 1}`);
    const how = [method, typeof s.protocol === "string" ? s.protocol : undefined].filter(Boolean).join(", ");
    const series = how ? `${base} (${how})` : base;
    titles.push(series);
    const points = (Array.isArray(s.points) ? s.points : Array.isArray(s.curve) ? s.curve : Array.isArray(s.results) ? s.results : []) as unknown[];
    for (const p of points) {
      const point = obj(p);
      const eps = num(point.epsilon);
      if (eps === undefined) continue;
      const metrics = { ...point, ...obj(point.metrics) };
      for (const [key, label] of SWEEP_METRICS) {
        const v = num(metrics[key]);
        if (v !== undefined) rows.push({ series, epsilon: eps, metric: label, value: v });
      }
    }
  }
  return { rows, titles };
}

function strategyRows(comparison: unknown): StrategyRow[] {
  const strategies = obj(comparison).strategies ?? obj(obj(comparison).comparison).strategies;
  if (!Array.isArray(strategies)) return [];
  return strategies.flatMap((raw) => {
    const s = obj(raw);
    const name = String(s.strategy ?? "?");
    const out: StrategyRow[] = [];
    const add = (measure: string, v: unknown) => {
      const n = num(v);
      if (n !== undefined) out.push({ strategy: name, measure, value: n });
    };
    add("optimum found (share of images)", s.optimumShare);
    add("same s* as exhaustive", s.sameSignsShare);
    add("loss reduction captured", s.reductionCaptured);
    return out;
  });
}

export async function buildCharts(inputs: ReportInputs): Promise<Chart[]> {
  const r = inputs.results;
  const charts: Chart[] = [];
  const hist = historyRows(r);
  if (hist.length > 0) {
    charts.push({
      id: "validation-loss",
      title: "Validation loss per epoch (paper Figure 4)",
      caption: `Validation loss after each epoch of M1-M4${r.models.length > 4 ? " and the adversarial-training baselines" : ""}; M4 trains for round(E/3) epochs on clean ∪ D1 ∪ D2${r.series ? ` (seed ${r.series.seeds[0]})` : ""}.`,
      svg: await renderVegaLiteSvg(validationLossSpec(hist)),
    });
  }
  const choices = choiceRows(r);
  if (choices.length > 0) {
    charts.push({
      id: "method-two-choices",
      title: "Method two's choices per class",
      caption: `Training images whose chosen sign vector s* adds (+1), removes (−1) or skips (0) each class's FGSM direction (strategy ${r.methodTwo.strategy}, ε = ${r.methodTwo.epsilon}).`,
      svg: await renderVegaLiteSvg(choicesSpec(choices)),
    });
  }
  const bars = protocolBarRows(r);
  if (bars.length > 0) {
    const protocols = PROTOCOLS.filter((p) => bars.some((b) => b.protocol === p));
    charts.push({
      id: "foreground-accuracy",
      title: "Foreground accuracy per model and protocol",
      caption: r.series
        ? `Mean over ${r.series.seeds.length} seeds; error bars: the 95% t-interval of the mean (drawn within [0, 1]).`
        : "One seed: no error bars (run with several seeds for intervals).",
      svg: await renderVegaLiteSvg(protocolBarsSpec(bars, [...protocols])),
    });
  }
  const sweeps = r.series ? { rows: aggregateSweepRows(r) } : sweepRows(r.sweeps);
  if (sweeps.rows.length > 0) {
    charts.push({
      id: "epsilon-sweep",
      title: "ε-sweep robustness curves",
      caption: `Pixel accuracy, foreground accuracy and mIoU on the test set against the attack's ε${r.series ? `; mean over ${r.series.seeds.length} seeds with 95% t-intervals` : ""}.`,
      svg: await renderVegaLiteSvg(sweepSpec(sweeps.rows)),
    });
  }
  const strat = strategyRows(inputs.selectionComparison);
  if (strat.length > 0) {
    charts.push({
      id: "selection-comparison",
      title: "Greedy / beam versus exhaustive (method two)",
      caption: `From ${SELECTION_COMPARISON_FILE}: how often each strategy finds exhaustive's optimum, picks the same s*, and the share of exhaustive's loss reduction it reaches.`,
      svg: await renderVegaLiteSvg(selectionComparisonSpec(strat)),
    });
  }
  return charts;
}

// ---- HTML ----

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px} h3{font-size:15px;margin:20px 0 6px}
.muted{color:#666} code{background:#f3f3f3;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f5f5f5} td.l,th.l{text-align:left}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0} dl.kv dt{color:#666} dl.kv dd{margin:0}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0}
.swatch{display:inline-block;width:14px;height:14px;border:1px solid #888;vertical-align:-2px;margin-right:5px}
figure{margin:12px 0 24px} figcaption{color:#444;margin:4px 0 8px}
.panels{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start;margin:6px 0 12px}
.panel{margin:0;text-align:center;font-size:12px;color:#444}
.panel img{display:block;border:1px solid #999;image-rendering:pixelated;background:#fff}
.imgrow{border-left:3px solid #eee;padding-left:10px;margin:8px 0}
.chart svg{max-width:100%;height:auto}
.flag{color:#a00;font-weight:600}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
`;

function evalTable(r: ExperimentResults, rows: EvaluationResult[], title: string): string {
  const head = `<tr><th class=l>${esc(title)}</th><th class=l>trained on</th><th>pixel accuracy</th><th>foreground accuracy</th><th>mIoU</th><th>mean Dice</th><th>mean loss</th><th>fg → bg</th></tr>`;
  const body = rows
    .map(
      (e) =>
        `<tr data-model="${esc(e.model)}"><td class=l>${esc(e.model)}</td><td class=l>${esc(trainedOnText(r, e.model))}</td><td>${f4(e.metrics.pixelAccuracy)}</td><td>${f4(
          e.metrics.foregroundAccuracy,
        )}</td><td>${f4(e.metrics.meanIoU)}</td><td>${f4(e.metrics.meanDice)}</td><td>${f4(e.metrics.meanLoss)}</td><td>${f4(e.foregroundToBackground)}</td></tr>`,
    )
    .join("");
  return `<table class="metrics">${head}${body}</table>`;
}

function perClassHtml(rows: EvaluationResult[], what: "iou" | "dice"): string {
  const first = rows[0];
  if (!first) return "";
  const names = first.metrics.perClass.map((c) => c.name);
  return `<table><tr><th class=l>model</th>${names.map((n) => `<th>${esc(n)}</th>`).join("")}</tr>${rows
    .map((e) => `<tr><td class=l>${esc(e.model)}</td>${e.metrics.perClass.map((c) => `<td>${f3(c[what])}</td>`).join("")}</tr>`)
    .join("")}</table>`;
}

function legendHtml(names: readonly string[], colors: readonly string[]): string {
  return `<div class="legend">${names
    .map((n, i) => `<span><span class="swatch" style="background:${esc(/^#[0-9a-fA-F]{6}$/.test(colors[i] ?? "") ? colors[i] : "#000000")}"></span>${esc(n)}</span>`)
    .join("")}</div>`;
}

async function figuresHtml(inputs: ReportInputs): Promise<string> {
  const fig = inputs.figures;
  if (!fig || fig.figures.length === 0) return `<p class="muted">No figure panels in this run folder (figures.json is missing).</p>`;
  const parts = [
    `<p>Panels rendered by the worker from the tensors. Label panels use this palette:</p>`,
    legendHtml(fig.classNames, fig.classColors),
    `<p class="muted">The perturbation is magnified to be visible (mid grey = no change). A target panel is one uniform colour: the attack's full-area target class (background is a plain pale square).</p>`,
  ];
  for (const f of fig.figures) {
    const rowsHtml: string[] = [];
    for (const img of f.images) {
      const panels: string[] = [];
      for (const p of img.panels) {
        const path = join(inputs.runDir, p.file);
        const data = existsSync(path) ? (await readFile(path)).toString("base64") : "";
        panels.push(
          `<figure class="panel"><img src="data:image/png;base64,${data}" width="${p.width}" height="${p.height}" alt="${esc(`${p.caption}, image ${img.imageIndex}`)}"><figcaption>${esc(p.caption)}</figcaption></figure>`,
        );
      }
      rowsHtml.push(
        `<div class="imgrow"><div class="muted">${esc(f.dataset)} image ${img.imageIndex}${img.linf > 0 ? ` · L∞ of the perturbation ${img.linf.toFixed(4)}` : ""}</div><div class="panels">${panels.join("")}</div></div>`,
      );
    }
    const meta = [
      `model ${f.model}`,
      f.perturbedDataset ? `perturbed images from ${f.perturbedDataset}` : "",
      f.attack ? `attack ${describeAttack(f.attack, fig.classNames)} against ${f.attackModel ?? f.model}` : "",
      f.targetClass ? `target: ${f.targetClass}` : "",
    ].filter(Boolean);
    parts.push(
      `<figure id="${esc(f.id)}" class="figure"><h3>${esc(f.title)}${f.paperFigure ? ` <span class="muted">(paper Figure ${esc(f.paperFigure)})</span>` : ""}</h3><figcaption>${esc(f.caption)} <span class="muted">${esc(meta.join(" · "))}</span></figcaption>${rowsHtml.join("")}</figure>`,
    );
  }
  return parts.join("\n");
}

function summaryHtml(r: ExperimentResults): string {
  const env = r.environment;
  const spec = obj(r.spec);
  const seeds = r.series
    ? [`training seeds ${r.series.seeds.join(", ")}`, r.series.varyData ? "data seed = training seed" : `data ${String(obj(spec.data).seed ?? "?")}`]
    : [`data ${String(obj(spec.data).seed ?? "?")}`, `training ${String(obj(spec.training).seed ?? "?")}`];
  const baselines = r.models.filter((m) => m.adversarialTraining).map((m) => `${m.name}: ${m.adversarialTraining}, ${m.epochs} epochs`);
  const ensemble = r.worstCase?.[0]?.members.map((m) => (m.attack ? describeAttack(m.attack, r.classNames) : m.label)) ?? [];
  const attack = r.evaluations.find((e) => e.attack !== null)?.attack;
  const kv: [string, string][] = [
    ["name", r.name],
    ["run folder", r.runDir],
    ["started / finished", `${r.startedAt} → ${r.finishedAt} (${secs(r.totalSeconds)})`],
    ["model", `${r.models.find((m) => m.description)?.description ?? ""} ${JSON.stringify(spec.model ?? {})}`.trim()],
    ["training", JSON.stringify(spec.training ?? {})],
    ["method one", JSON.stringify(spec.methodOne ?? {})],
    ["method two", `${r.methodTwo.strategy}, ε = ${r.methodTwo.epsilon}, ${r.methodTwo.aggregate.imagesChanged}/${r.methodTwo.aggregate.images} images changed`],
    ["evaluation attack", attack ? describeAttack(attack, r.classNames) : "none"],
    ...(baselines.length ? ([["baselines", baselines.join("; ")]] as [string, string][]) : []),
    ...(ensemble.length ? ([["worst-case ensemble", ensemble.join("; ")]] as [string, string][]) : []),
    ["seeds", seeds.join(", ")],
    ["device", `${env.worker.device} (${env.worker.deviceType}), ${env.worker.threads} threads`],
    ["versions", `robustseg ${env.cli}, worker ${env.worker.version}, torch ${env.worker.torch}, node ${env.node}, ${env.platform}`],
  ];
  return `<dl class="kv">${kv.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`;
}

function datasetsHtml(r: ExperimentResults): string {
  const names = r.classNames;
  return `<table><tr><th class=l>dataset</th><th class=l>made by</th><th>images</th><th>size</th>${names.map((n) => `<th>${esc(n)}</th>`).join("")}<th>mean L∞</th></tr>${r.datasets
    .map(
      (d) =>
        `<tr><td class=l>${esc(d.role)}</td><td class=l>${esc(d.madeBy)}</td><td>${d.numImages}</td><td>${d.height}×${d.width}</td>${d.classShares
          .map((s) => `<td>${pct(s)}</td>`)
          .join("")}<td>${d.meanLinf === undefined ? "" : f4(d.meanLinf)}</td></tr>`,
    )
    .join("")}</table>`;
}

function modelsHtml(r: ExperimentResults): string {
  return `<table><tr><th class=l>model</th><th class=l>trained on</th><th>epochs</th><th>parameters</th><th>best epoch</th><th>best validation loss</th></tr>${r.models
    .map(
      (m) =>
        `<tr><td class=l>${esc(m.name)}</td><td class=l>${esc(m.trainedOn.join(" + "))}</td><td>${m.epochs}</td><td>${m.numParameters.toLocaleString("en-US")}</td><td>${m.bestEpoch}</td><td>${f4(m.bestValidationLoss)}</td></tr>`,
    )
    .join("")}</table>`;
}

function stagesHtml(r: ExperimentResults): string {
  if (r.series) {
    return `<table><tr><th>seed</th><th class=l>run folder</th><th>seconds</th><th class=l>read back</th></tr>${r.series.runs
      .map((x) => `<tr><td>${x.seed}</td><td class=l>${esc(x.runDir)}</td><td>${x.totalSeconds.toFixed(1)}</td><td class=l>${x.cached ? "yes" : ""}</td></tr>`)
      .join("")}<tr><td><b>total</b></td><td></td><td>${r.totalSeconds.toFixed(1)}</td><td></td></tr></table>`;
  }
  return `<table><tr><th class=l>stage</th><th>seconds</th><th class=l>reused</th><th>attempts</th></tr>${r.stages
    .map((s) => `<tr><td class=l>${esc(s.label)}</td><td>${s.seconds.toFixed(1)}</td><td class=l>${s.reused ? "yes" : ""}</td><td>${s.attempts}</td></tr>`)
    .join("")}<tr><td class=l><b>total</b></td><td>${r.totalSeconds.toFixed(1)}</td><td></td><td></td></tr></table>`;
}

export async function renderReportHtml(inputs: ReportInputs, charts?: Chart[]): Promise<string> {
  const r = inputs.results;
  const cs = charts ?? (await buildCharts(inputs));
  const byProtocol = (p: string) => r.evaluations.filter((e) => e.protocol === p);
  const test = r.datasets.find((d) => d.role === "test");
  const tables: string[] = [];
  if (r.series) {
    tables.push(
      `<p>${r.series.seeds.length} seeds (${esc(r.series.seeds.join(", "))}): mean ± sd over seeds; Δ = the model minus M1 under the same protocol, paired by seed, with its 95% t-interval. Each seed's own report: ${r.series.runs
        .map((x) => `<code>${esc(x.runDir)}/report.html</code>`)
        .join(", ")}.</p>`,
    );
  }
  for (const p of PROTOCOLS) {
    const rows = byProtocol(p);
    if (rows.length === 0) continue;
    tables.push(`<h3>${esc(PROTOCOL_TITLE[p])}</h3>${r.series ? aggregateTableHtml(r, p, modelColumnTitle(r)) : evalTable(r, rows, modelColumnTitle(r))}`);
  }
  tables.push(worstCaseHtml(r), dropsHtml(r));
  const perClass: string[] = [];
  for (const p of PROTOCOLS) {
    const rows = byProtocol(p);
    if (rows.length === 0) continue;
    perClass.push(`<h3>${esc(p)}: IoU</h3>${perClassHtml(rows, "iou")}<h3>${esc(p)}: Dice</h3>${perClassHtml(rows, "dice")}`);
  }
  const chartsHtml = cs
    .map((c) => `<figure class="chart" id="chart-${esc(c.id)}"><h3>${esc(c.title)}</h3>${c.svg}<figcaption>${esc(c.caption)}</figcaption></figure>`)
    .join("\n");
  const sweepNote = sweepRows(r.sweeps).rows.length === 0 ? `<p class="muted">No ε-sweeps in this run (results.json <code>sweeps</code> is empty).</p>` : "";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.name)}: robustseg report</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(r.name)}: robustness report</h1>
<p class="muted">The paper's four-model experiment: M1 clean; M2 on D1 (method one, layered PGD); M3 on D2 (method two); M4 on clean ∪ D1 ∪ D2${
    r.models.length > 4 ? `; beside them the adversarial-training baselines ${esc(r.models.slice(4).map((m) => m.name).join(", "))}` : ""
  }. Metrics from confusion matrices over the whole test set${test ? ` (${test.numImages} images)` : ""}; fg → bg = share of foreground pixels predicted as background (the background-targeted attack's success).</p>
<h2>Summary</h2>
${summaryHtml(r)}
<h3>Data (class pixel shares)</h3>
${datasetsHtml(r)}
<h3>Models</h3>
${modelsHtml(r)}
<h3>Stages</h3>
${stagesHtml(r)}
<h2>Tables 1 and 2</h2>
${tables.join("\n")}
<h2>Trust checks</h2>
${trustHtml(r)}
<h2>Per-class IoU and Dice${r.series ? ` (seed ${r.series.seeds[0]})` : ""}</h2>
${perClass.join("\n")}
<h2>Figures</h2>
${await figuresHtml(inputs)}
<h2>Charts</h2>
${chartsHtml}
${sweepNote}
</main></body></html>
`;
}

function mdEvalTable(r: ExperimentResults, rows: EvaluationResult[], title: string): string {
  return [
    `| ${title} | trained on | pixel accuracy | foreground accuracy | mIoU | mean Dice | mean loss | fg → bg |`,
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (e) =>
        `| ${mdCell(e.model)} | ${mdCell(trainedOnText(r, e.model))} | ${f4(e.metrics.pixelAccuracy)} | ${f4(e.metrics.foregroundAccuracy)} | ${f4(e.metrics.meanIoU)} | ${f4(
          e.metrics.meanDice,
        )} | ${f4(e.metrics.meanLoss)} | ${f4(e.foregroundToBackground)} |`,
    ),
  ].join("\n");
}

export function renderReportMarkdown(inputs: ReportInputs): string {
  const r = inputs.results;
  const env = r.environment;
  const parts = [
    `# ${r.name}: robustness report`,
    "",
    `Device ${env.worker.device}; robustseg ${env.cli}, worker ${env.worker.version}, torch ${env.worker.torch}; ${secs(r.totalSeconds)} ${r.series ? `over ${r.series.seeds.length} seeds` : `in ${r.stages.length} stages`}. The full report with figures and charts: [report.html](report.html).`,
  ];
  if (r.series) {
    // Over seeds: the tables of tables.md (mean ± sd, Δ to M1 with its interval).
    parts.push("", renderPaperTables(r));
  } else {
    for (const p of PROTOCOLS) {
      const rows = r.evaluations.filter((e) => e.protocol === p);
      if (rows.length > 0) parts.push("", `## ${PROTOCOL_TITLE[p]}`, "", mdEvalTable(r, rows, modelColumnTitle(r)));
    }
  }
  parts.push(...robustnessMarkdown(r));
  parts.push("", `## Per-class IoU / Dice${r.series ? ` (seed ${r.series.seeds[0]})` : ""}`);
  for (const p of PROTOCOLS) {
    const rows = r.evaluations.filter((e) => e.protocol === p);
    const first = rows[0];
    if (!first) continue;
    const names = first.metrics.perClass.map((c) => mdCell(c.name));
    parts.push("", `### ${p}`, "", `| model | ${names.join(" | ")} |`, `|---|${names.map(() => "---:").join("|")}|`);
    for (const e of rows) parts.push(`| ${e.model} | ${e.metrics.perClass.map((c) => `${f3(c.iou)} / ${f3(c.dice)}`).join(" | ")} |`);
  }
  parts.push("", "## Data (class pixel shares)", "", `| dataset | images | ${r.classNames.map(mdCell).join(" | ")} |`, `|---|---:|${r.classNames.map(() => "---:").join("|")}|`);
  for (const d of r.datasets) parts.push(`| ${mdCell(d.role)} | ${d.numImages} | ${d.classShares.map(pct).join(" | ")} |`);
  const fig = inputs.figures;
  if (fig && fig.figures.length > 0) {
    parts.push("", "## Figures", "");
    for (const f of fig.figures) {
      parts.push(`- **${mdCell(f.title)}**${f.paperFigure ? ` (paper Figure ${f.paperFigure})` : ""}: ${mdCell(f.caption)}`);
      for (const img of f.images) {
        parts.push(`  - ${f.dataset} image ${img.imageIndex}: ${img.panels.map((p) => `[${mdCell(p.caption)}](${p.file})`).join(", ")}`);
      }
    }
  }
  parts.push("", "## Stages", "", "| stage | seconds | attempts | reused |", "|---|---:|---:|---|");
  for (const s of r.stages) parts.push(`| ${mdCell(s.label)} | ${s.seconds.toFixed(1)} | ${s.attempts} | ${s.reused ? "yes" : ""} |`);
  return `${parts.join("\n")}\n`;
}

/** Builds report.html and report.md from the run folder and writes them there. */
export async function writeReport(runDir: string): Promise<{ html: string; markdown: string; charts: string[]; figures: number }> {
  const inputs = await readReportInputs(runDir);
  const charts = await buildCharts(inputs);
  const html = join(inputs.runDir, REPORT_HTML);
  const markdown = join(inputs.runDir, REPORT_MD);
  await writeFileAtomic(html, await renderReportHtml(inputs, charts), "report.write");
  await writeFileAtomic(markdown, renderReportMarkdown(inputs));
  return { html, markdown, charts: charts.map((c) => c.id), figures: inputs.figures?.figures.length ?? 0 };
}
