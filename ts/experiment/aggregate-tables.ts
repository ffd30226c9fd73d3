// Markdown tables over seeds: the paper's Tables 1-2 layout with mean ± sd per metric and, per
// model, the paired difference of foreground accuracy to M1 (mean [95% t-interval]); the
// worst-case protocol's members beside it; the trust checks. Pure: strings from aggregate rows.
import { formatDifference, formatMeanSd, type IntervalSummary, signOfInterval } from "../metrics/intervals.js";
import type { AggregateRow } from "./seed-aggregate.js";
import type { TrustCheckResult } from "./trust-checks.js";

/** "(beyond the spread)" when the interval excludes zero, "(within the spread)" when it covers it. */
export function spreadVerdict(d: IntervalSummary): string {
  const sign = signOfInterval(d);
  if (sign === null) return "";
  return sign === 0 ? "within the seed spread" : sign > 0 ? "higher, beyond the seed spread" : "lower, beyond the seed spread";
}

/** One protocol's rows: loss, pixel accuracy, foreground accuracy, mIoU, fg → bg (mean ± sd), Δ fg accuracy vs M1. */
export function aggregateTable(rows: readonly AggregateRow[], describeModel: (model: string) => string = (m) => m, reference = "M1"): string {
  const n = Math.max(0, ...rows.map((r) => r.seeds.length));
  return [
    `| U-Net | loss | accuracy | foreground accuracy | mIoU | foreground → background | Δ foreground accuracy vs ${reference} (95% CI, ${n} seeds) |`,
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const m = r.metrics;
      const d = r.differenceToReference?.foregroundAccuracy;
      const diff = d ? `${formatDifference(d)}${spreadVerdict(d) ? ` (${spreadVerdict(d)})` : ""}` : "—";
      return `| ${describeModel(r.model)} | ${formatMeanSd(m.meanLoss, 4)} | ${formatMeanSd(m.pixelAccuracy, 4)} | ${formatMeanSd(m.foregroundAccuracy, 4)} | ${formatMeanSd(
        m.meanIoU,
        4,
      )} | ${formatMeanSd(m.foregroundToBackground, 4)} | ${diff} |`;
    }),
  ].join("\n");
}

export interface WorstCaseMemberRow {
  model: string;
  /** Foreground accuracy under each member alone (mean over seeds with sd), in member order. */
  members: IntervalSummary[];
  worstCase: IntervalSummary;
  /** Images each member was the worst case for (summed over seeds). */
  chosen: number[];
}

/** Foreground accuracy under each member of the ensemble alone, and the per-image worst case. */
export function worstCaseMembersTable(labels: readonly string[], rows: readonly WorstCaseMemberRow[], describeModel: (model: string) => string = (m) => m): string {
  return [
    `| U-Net | ${labels.join(" | ")} | worst case |`,
    `|---|${labels.map(() => "---:").join("|")}|---:|`,
    ...rows.map((r) => `| ${describeModel(r.model)} | ${r.members.map((s, i) => `${formatMeanSd(s)} (${r.chosen[i] ?? 0})`).join(" | ")} | ${formatMeanSd(r.worstCase)} |`),
  ].join("\n");
}

/** The trust checks: one row per flagged check, or a line saying none was flagged; `total` counts the checks that ran (default: all given). */
export function trustTable(results: readonly (TrustCheckResult & { seed?: number | undefined })[], total = results.length): string {
  const flagged = results.filter((r) => r.flagged);
  if (total === 0) return "No trust checks ran (they need ε-sweeps, the transfer protocol, or the extra evaluations of `trust`).";
  const head = `${total} checks, ${flagged.length} flagged.`;
  if (flagged.length === 0) return `${head} None of the signs of gradient masking or a weak attack showed.`;
  return [head, "", "| model | check | seed | what was measured |", "|---|---|---:|---|", ...flagged.map((r) => `| ${r.model} | ${r.check} | ${r.seed ?? ""} | ${r.message.replace(/\|/g, "\\|")} |`)].join("\n");
}
