// Across seeds: per model and protocol, the mean, sd and 95% t-interval of every metric, and the
// paired difference to the reference model (M1) under the same protocol, seed by seed — the
// difference's interval is what says whether a model keeps more accuracy than M1 beyond the
// seed-to-seed spread. The same for every point of every ε-sweep. Pure: works on the rows of
// each seed's results.json.
import { type IntervalSummary, pairedDifference, summarize } from "../metrics/intervals.js";

export const AGGREGATE_METRICS = ["pixelAccuracy", "foregroundAccuracy", "meanIoU", "meanDice", "meanLoss", "foregroundToBackground"] as const;
export type AggregateMetric = (typeof AGGREGATE_METRICS)[number];
export type MetricValues = Record<AggregateMetric, number | null>;

/** One evaluation of one seed, reduced to what is aggregated. */
export interface SeedRow {
  model: string;
  protocol: string;
  values: MetricValues;
}

export interface SeedRows {
  seed: number;
  rows: readonly SeedRow[];
}

export interface AggregateRow {
  model: string;
  protocol: string;
  /** Seeds that had this row. */
  seeds: number[];
  metrics: Record<AggregateMetric, IntervalSummary>;
  /** This model minus the reference under the same protocol, paired by seed (null for the reference). */
  differenceToReference: Record<AggregateMetric, IntervalSummary> | null;
}

function key(model: string, protocol: string): string {
  return `${protocol}\u0000${model}`;
}

/** Aggregate rows in first-seen order (protocol order, then model order, as the first seed has them). */
export function aggregateSeeds(perSeed: readonly SeedRows[], reference = "M1", level = 0.95): AggregateRow[] {
  const order: { model: string; protocol: string }[] = [];
  const bySeed = new Map<string, Map<number, MetricValues>>();
  for (const { seed, rows } of perSeed) {
    for (const r of rows) {
      const k = key(r.model, r.protocol);
      let m = bySeed.get(k);
      if (!m) {
        m = new Map();
        bySeed.set(k, m);
        order.push({ model: r.model, protocol: r.protocol });
      }
      m.set(seed, r.values);
    }
  }
  return order.map(({ model, protocol }) => {
    const own = bySeed.get(key(model, protocol)) as Map<number, MetricValues>;
    const seeds = [...own.keys()];
    const metrics = Object.fromEntries(AGGREGATE_METRICS.map((m) => [m, summarize(seeds.map((s) => own.get(s)?.[m]), level)])) as Record<AggregateMetric, IntervalSummary>;
    const ref = bySeed.get(key(reference, protocol));
    const differenceToReference =
      model === reference || !ref
        ? null
        : (Object.fromEntries(
            AGGREGATE_METRICS.map((m) => [
              m,
              pairedDifference(
                seeds.map((s) => own.get(s)?.[m]),
                seeds.map((s) => ref.get(s)?.[m]),
                level,
              ),
            ]),
          ) as Record<AggregateMetric, IntervalSummary>);
    return { model, protocol, seeds, metrics, differenceToReference };
  });
}

/** One ε-sweep point of one seed. */
export interface SeedSweepPoint {
  /** The sweep's id without the seed (e.g. "sweep-1-M1"). */
  id: string;
  model: string;
  epsilon: number;
  values: MetricValues;
}

export interface AggregateSweepPoint {
  id: string;
  model: string;
  epsilon: number;
  seeds: number[];
  metrics: Record<AggregateMetric, IntervalSummary>;
}

/** Per sweep and ε, the seeds' points summarised (ascending ε within a sweep). */
export function aggregateSweepPoints(perSeed: readonly { seed: number; points: readonly SeedSweepPoint[] }[], level = 0.95): AggregateSweepPoint[] {
  const groups = new Map<string, { id: string; model: string; epsilon: number; bySeed: Map<number, MetricValues> }>();
  for (const { seed, points } of perSeed) {
    for (const p of points) {
      const k = `${p.id}\u0000${p.epsilon}`;
      let g = groups.get(k);
      if (!g) {
        g = { id: p.id, model: p.model, epsilon: p.epsilon, bySeed: new Map() };
        groups.set(k, g);
      }
      g.bySeed.set(seed, p.values);
    }
  }
  const ids = [...new Set([...groups.values()].map((g) => g.id))];
  return [...groups.values()]
    .sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id) || a.epsilon - b.epsilon)
    .map((g) => {
      const seeds = [...g.bySeed.keys()];
      const metrics = Object.fromEntries(AGGREGATE_METRICS.map((m) => [m, summarize(seeds.map((s) => g.bySeed.get(s)?.[m]), level)])) as Record<AggregateMetric, IntervalSummary>;
      return { id: g.id, model: g.model, epsilon: g.epsilon, seeds, metrics };
    });
}
