// The report's charts: Vega-Lite specifications compiled and rendered to SVG in Node at report
// time (vega-lite → vega → View.toSVG(), headless, no canvas), from results.json and the run
// folder's optional files. Paper Figure 4 (validation loss), method two's choices per class,
// ε-sweep robustness curves, foreground accuracy per model and protocol, and greedy/beam versus
// exhaustive. With several seeds, sweeps and bars show the mean with error bars (the 95%
// t-interval over seeds).
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

export interface Chart {
  id: string;
  title: string;
  caption: string;
  svg: string;
}

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const CONFIG = {
  font: FONT,
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#eee" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 13 },
};

/** Compiles a Vega-Lite spec and renders it to an SVG string (no browser, no canvas). */
export async function renderVegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vegaLite.compile({ config: CONFIG, background: "white", ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    return svg;
  } finally {
    view.finalize();
  }
}

// Paul Tol's "bright" scheme: M1-M4 as before, the adversarial-training baselines after them.
const MODEL_COLORS = { domain: ["M1", "M2", "M3", "M4", "PGD-AT", "SegPGD-AT"], range: ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377"] };

export interface HistoryRow {
  model: string;
  epoch: number;
  validationLoss: number | null;
  trainLoss: number | null;
}

/** Paper Figure 4: validation loss per epoch, all models in one chart. */
export function validationLossSpec(rows: HistoryRow[]): TopLevelSpec {
  return {
    width: 460,
    height: 260,
    data: { values: rows.filter((r) => r.validationLoss !== null && Number.isFinite(r.validationLoss)) },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: { field: "epoch", type: "quantitative", title: "epoch", axis: { tickMinStep: 1, format: "d" } },
      y: { field: "validationLoss", type: "quantitative", title: "validation loss", scale: { zero: false } },
      color: { field: "model", type: "nominal", title: "model", scale: MODEL_COLORS },
      tooltip: [{ field: "model" }, { field: "epoch" }, { field: "validationLoss", format: ".4f" }],
    },
  };
}

export interface ChoiceRow {
  class: string;
  classIndex: number;
  action: "added" | "removed" | "skipped";
  images: number;
}

/** Method two's choices per class: images adding, removing or skipping the class's direction. */
export function choicesSpec(rows: ChoiceRow[]): TopLevelSpec {
  return {
    width: 460,
    height: 240,
    data: { values: rows.map((r) => ({ ...r, order: ["added", "removed", "skipped"].indexOf(r.action) })) },
    mark: { type: "bar" },
    encoding: {
      x: { field: "class", type: "nominal", title: "class", sort: { field: "classIndex" }, axis: { labelAngle: -30 } },
      y: { field: "images", type: "quantitative", title: "images", stack: "zero" },
      color: {
        field: "action",
        type: "nominal",
        title: "direction",
        scale: { domain: ["added", "removed", "skipped"], range: ["#228833", "#ee6677", "#bbbbbb"] },
      },
      order: { field: "order", type: "quantitative" },
      tooltip: [{ field: "class" }, { field: "action" }, { field: "images" }],
    },
  };
}

export interface SweepRow {
  series: string;
  epsilon: number;
  metric: string;
  /** The value, or the mean over seeds. */
  value: number;
  /** The 95% t-interval over seeds (absent with one seed). */
  low?: number | undefined;
  high?: number | undefined;
}

/** ε-sweep robustness curves: one panel per metric, one line per series (model / attack), with error bars when rows carry intervals. */
export function sweepSpec(rows: SweepRow[], title?: string): TopLevelSpec {
  const line = {
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: { field: "epsilon", type: "quantitative", title: "ε" },
      y: { field: "value", type: "quantitative", title: "score", scale: { domain: [0, 1] } },
      color: { field: "series", type: "nominal", title: "model" },
      tooltip: [{ field: "series" }, { field: "epsilon" }, { field: "metric" }, { field: "value", format: ".3f" }, { field: "low", format: ".3f" }, { field: "high", format: ".3f" }],
    },
  };
  const bars = {
    transform: [{ filter: "isValid(datum.low) && isValid(datum.high)" }],
    mark: { type: "errorbar", ticks: true },
    encoding: {
      x: { field: "epsilon", type: "quantitative" },
      y: { field: "low", type: "quantitative", title: "score", scale: { domain: [0, 1] } },
      y2: { field: "high" },
      color: { field: "series", type: "nominal" },
    },
  };
  const withIntervals = rows.some((r) => r.low !== undefined && r.high !== undefined);
  return {
    ...(title ? { title } : {}),
    data: { values: rows.map(clippedInterval) },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: ["pixel accuracy", "foreground accuracy", "mIoU"] } },
    spec: withIntervals ? { width: 210, height: 200, layer: [line, bars] } : { width: 210, height: 200, ...line },
  } as TopLevelSpec;
}

/** An interval for a share drawn within [0, 1] (a few seeds give t-intervals wider than the scale). */
function clippedInterval<R extends { low?: number | undefined; high?: number | undefined }>(r: R): R & { low: number | null; high: number | null } {
  return { ...r, low: r.low === undefined ? null : Math.max(0, r.low), high: r.high === undefined ? null : Math.min(1, r.high) };
}

export interface ProtocolBarRow {
  model: string;
  protocol: string;
  /** Foreground accuracy, or its mean over seeds. */
  value: number;
  low?: number | undefined;
  high?: number | undefined;
}

/** Foreground accuracy per model, one group per protocol (clean, white-box, transfer, worst-case), with error bars when rows carry intervals. */
export function protocolBarsSpec(rows: ProtocolBarRow[], protocols: string[]): TopLevelSpec {
  const models = [...new Set(rows.map((r) => r.model))];
  const bar = {
    mark: { type: "bar" },
    encoding: {
      x: { field: "model", type: "nominal", title: null, sort: models, axis: { labelAngle: -30 } },
      y: { field: "value", type: "quantitative", title: "foreground accuracy", scale: { domain: [0, 1] } },
      color: { field: "model", type: "nominal", title: "model", scale: MODEL_COLORS },
      tooltip: [{ field: "model" }, { field: "protocol" }, { field: "value", format: ".3f" }, { field: "low", format: ".3f" }, { field: "high", format: ".3f" }],
    },
  };
  const bars = {
    transform: [{ filter: "isValid(datum.low) && isValid(datum.high)" }],
    mark: { type: "errorbar", ticks: true, color: "#333" },
    encoding: {
      x: { field: "model", type: "nominal", sort: models },
      y: { field: "low", type: "quantitative", title: "foreground accuracy", scale: { domain: [0, 1] } },
      y2: { field: "high" },
    },
  };
  const withIntervals = rows.some((r) => r.low !== undefined && r.high !== undefined);
  return {
    data: { values: rows.map(clippedInterval) },
    facet: { column: { field: "protocol", type: "nominal", title: null, sort: protocols } },
    spec: withIntervals ? { width: 150, height: 200, layer: [bar, bars] } : { width: 150, height: 200, ...bar },
  } as TopLevelSpec;
}

export interface StrategyRow {
  strategy: string;
  measure: string;
  value: number;
}

/** Greedy/beam versus exhaustive: share of images where each strategy found the optimum, etc. */
export function selectionComparisonSpec(rows: StrategyRow[]): TopLevelSpec {
  return {
    data: { values: rows },
    facet: { column: { field: "measure", type: "nominal", title: null } },
    spec: {
      width: 160,
      height: 200,
      mark: { type: "bar" },
      encoding: {
        x: { field: "strategy", type: "nominal", title: "strategy", axis: { labelAngle: -30 } },
        y: { field: "value", type: "quantitative", title: "share", scale: { domain: [0, 1] } },
        color: { field: "strategy", type: "nominal", legend: null },
        tooltip: [{ field: "strategy" }, { field: "measure" }, { field: "value", format: ".3f" }],
      },
    },
  } as TopLevelSpec;
}
