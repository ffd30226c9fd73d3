// The report's robustness sections: Tables 1-2 over seeds (mean ± sd, each model's
// paired difference to M1 with its 95% interval), the worst case's members, the trust checks,
// and the chart data of foreground accuracy per model and protocol. HTML and Markdown from
// results.json only.
import { formatDifference, formatMeanSd, type IntervalSummary } from "../metrics/intervals.js";
import { spreadVerdict } from "../experiment/aggregate-tables.js";
import type { ExperimentResults } from "../experiment/results.js";
import { renderDrops, renderTrust, renderWorstCaseMembers } from "../experiment/tables.js";
import type { ProtocolBarRow, SweepRow } from "./charts.js";

export const PROTOCOLS = ["clean", "white-box", "transfer", "worst-case"] as const;
export const PROTOCOL_TITLE: Record<string, string> = {
  clean: "Table 1: clean test set",
  "white-box": "Table 2a: under attack, white-box (computed against each model)",
  transfer: "Table 2b: under attack, transfer (test set attacked once against M1)",
  "worst-case": "Table 2c: worst case per image over the strong ensemble (APGD with five losses and the evaluation attack)",
};
const TRAINED_ON: Record<string, string> = { M1: "clean", M2: "D1 (method one)", M3: "D2 (method two)", M4: "clean + D1 + D2" };

function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** What a model was trained on, in words (the baselines: the clean set, every batch attacked). */
export function trainedOnText(r: Pick<ExperimentResults, "models">, model: string): string {
  if (TRAINED_ON[model]) return TRAINED_ON[model] as string;
  const m = r.models.find((x) => x.name === model);
  return m?.adversarialTraining ? `clean, ${m.adversarialTraining}` : (m?.trainedOn.join(" + ") ?? "");
}

const ms = (s: IntervalSummary) => formatMeanSd(s, 4);

/** One protocol's table over seeds, HTML. */
export function aggregateTableHtml(r: ExperimentResults, protocol: string, title: string): string {
  const rows = r.series?.aggregate.evaluations.filter((x) => x.protocol === protocol) ?? [];
  if (rows.length === 0) return "";
  const n = Math.max(...rows.map((x) => x.seeds.length));
  const head = `<tr><th class=l>${esc(title)}</th><th class=l>trained on</th><th>pixel accuracy</th><th>foreground accuracy</th><th>mIoU</th><th>mean Dice</th><th>mean loss</th><th>fg → bg</th><th>Δ fg accuracy vs M1 (95% CI, ${n} seeds)</th></tr>`;
  const body = rows
    .map((x) => {
      const d = x.differenceToReference?.foregroundAccuracy;
      const m = x.metrics;
      return `<tr data-model="${esc(x.model)}"><td class=l>${esc(x.model)}</td><td class=l>${esc(trainedOnText(r, x.model))}</td><td>${ms(m.pixelAccuracy)}</td><td>${ms(
        m.foregroundAccuracy,
      )}</td><td>${ms(m.meanIoU)}</td><td>${ms(m.meanDice)}</td><td>${ms(m.meanLoss)}</td><td>${ms(m.foregroundToBackground)}</td><td>${
        d ? `${esc(formatDifference(d))}${spreadVerdict(d) ? ` <span class="muted">(${esc(spreadVerdict(d))})</span>` : ""}` : "—"
      }</td></tr>`;
    })
    .join("");
  return `<table class="metrics">${head}${body}</table>`;
}

/** A Markdown table (as tables.md has it) as an HTML table. */
export function markdownTableHtml(markdown: string): string {
  const lines = markdown.split("\n").filter((l) => l.startsWith("|"));
  if (lines.length < 2) return `<p>${esc(markdown)}</p>`;
  const cells = (l: string) =>
    l
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, "|"));
  const [head, , ...body] = lines;
  return `<table><tr>${cells(head as string)
    .map((c, i) => `<th${i === 0 ? " class=l" : ""}>${esc(c)}</th>`)
    .join("")}</tr>${body.map((l) => `<tr>${cells(l).map((c, i) => `<td${i === 0 ? " class=l" : ""}>${esc(c)}</td>`).join("")}</tr>`).join("")}</table>`;
}

/** The worst case's members (HTML), or nothing without the worst-case protocol. */
export function worstCaseHtml(r: ExperimentResults): string {
  const md = renderWorstCaseMembers(r);
  if (!md) return "";
  return `<h3>The worst case's members</h3><p class="muted">Foreground accuracy under each member of the ensemble alone (in brackets: images whose worst case it was${
    r.series ? ", summed over seeds" : ""
  }), beside the per-image worst case.</p>${markdownTableHtml(md)}`;
}

/** Foreground accuracy lost under each attack protocol over seeds (HTML), or nothing for one run. */
export function dropsHtml(r: ExperimentResults): string {
  const md = renderDrops(r);
  if (!md) return "";
  return `<h3>Foreground accuracy lost under attack</h3><p class="muted">Clean minus attacked foreground accuracy per seed, mean ± sd; a negative difference to M1 means the model loses less than M1 (paired by seed, 95% t-interval).</p>${markdownTableHtml(md)}`;
}

/** The trust checks (HTML): flagged checks in a table, or a line saying none showed. */
export function trustHtml(r: ExperimentResults): string {
  const md = renderTrust(r);
  const [first, ...rest] = md.split("\n\n");
  const flagged = r.series ? r.series.aggregate.trustFlags.length : (r.trust?.flagged ?? 0);
  return `<p class="${flagged > 0 ? "flag" : "muted"}">${esc(first)}</p>${rest.length ? markdownTableHtml(rest.join("\n\n")) : ""}<p class="muted">Checked: accuracy falls as ε grows in every sweep; no transfer attack beats the white-box one; more attack steps do not leave more accuracy; a large ε leaves at most ${(
    100 * (r.trust?.options.largeEpsilonMaxAccuracy ?? 0.1)
  ).toFixed(0)}% foreground accuracy (Carlini et al., "On Evaluating Adversarial Robustness", 2019).</p>`;
}

/** Markdown: the worst case's members and the trust checks, for report.md. */
export function robustnessMarkdown(r: ExperimentResults): string[] {
  const parts: string[] = [];
  const members = renderWorstCaseMembers(r);
  if (members) parts.push("", "## The worst case's members", "", members);
  parts.push("", "## Trust checks", "", renderTrust(r));
  return parts;
}

/** Foreground accuracy per model and protocol: one run's values, or means with 95% intervals over seeds. */
export function protocolBarRows(r: ExperimentResults): ProtocolBarRow[] {
  if (r.series) {
    return r.series.aggregate.evaluations.flatMap((x) => {
      const s = x.metrics.foregroundAccuracy;
      if (s.mean === null) return [];
      return [{ model: x.model, protocol: x.protocol, value: s.mean, low: s.ciLow ?? undefined, high: s.ciHigh ?? undefined }];
    });
  }
  return r.evaluations.flatMap((e) => (e.metrics.foregroundAccuracy === null ? [] : [{ model: e.model, protocol: e.protocol, value: e.metrics.foregroundAccuracy }]));
}

/** ε-sweep rows over seeds: means with 95% intervals. */
export function aggregateSweepRows(r: ExperimentResults): SweepRow[] {
  const points = r.series?.aggregate.sweeps ?? [];
  const metrics: [keyof (typeof points)[number]["metrics"], string][] = [
    ["pixelAccuracy", "pixel accuracy"],
    ["foregroundAccuracy", "foreground accuracy"],
    ["meanIoU", "mIoU"],
  ];
  return points.flatMap((p) => {
    const sweep = r.sweeps.find((s) => s.id === p.id);
    const series = sweep ? `${p.model} (${sweep.attack.method}, ${sweep.protocol})` : p.model;
    return metrics.flatMap(([key, label]) => {
      const s = p.metrics[key];
      return s.mean === null ? [] : [{ series, epsilon: p.epsilon, metric: label, value: s.mean, low: s.ciLow ?? undefined, high: s.ciHigh ?? undefined }];
    });
  });
}
