// Seed-to-seed statistics: mean, sample standard deviation and a Student-t confidence interval
// for the mean, and the same for paired differences (model minus reference, seed by seed).
// With n seeds the interval is mean ± t_{(1+level)/2, n−1} · sd / √n; one seed has no spread and
// no interval (null), which the tables print as such rather than as zero.

export interface IntervalSummary {
  /** Values that were numbers (null/undefined/NaN are left out). */
  n: number;
  mean: number | null;
  /** Sample standard deviation (n − 1 in the denominator); null below two values. */
  sd: number | null;
  /** The confidence interval for the mean; null below two values. */
  ciLow: number | null;
  ciHigh: number | null;
  /** t · sd / √n. */
  halfWidth: number | null;
  level: number;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t (bisection on the CDF; |error| < 1e-12). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`df must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function numbers(values: readonly (number | null | undefined)[]): number[] {
  return values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
}

/** Mean, sample sd and the `level` t-interval of the values that are numbers. */
export function summarize(values: readonly (number | null | undefined)[], level = 0.95): IntervalSummary {
  const xs = numbers(values);
  const n = xs.length;
  if (n === 0) return { n, mean: null, sd: null, ciLow: null, ciHigh: null, halfWidth: null, level };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: null, ciLow: null, ciHigh: null, halfWidth: null, level };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const halfWidth = (studentTQuantile((1 + level) / 2, n - 1) * sd) / Math.sqrt(n);
  return { n, mean, sd, ciLow: mean - halfWidth, ciHigh: mean + halfWidth, halfWidth, level };
}

/** The paired difference a_i − b_i over the pairs where both are numbers, summarised. */
export function pairedDifference(a: readonly (number | null | undefined)[], b: readonly (number | null | undefined)[], level = 0.95): IntervalSummary {
  if (a.length !== b.length) throw new RangeError(`paired values need equal lengths, got ${a.length} and ${b.length}`);
  const diffs: number[] = [];
  a.forEach((x, i) => {
    const y = b[i];
    if (typeof x === "number" && typeof y === "number" && Number.isFinite(x) && Number.isFinite(y)) diffs.push(x - y);
  });
  return summarize(diffs, level);
}

/** Whether an interval lies wholly above (1), wholly below (−1) zero, or covers it (0); null without one. */
export function signOfInterval(s: IntervalSummary): 1 | -1 | 0 | null {
  if (s.ciLow === null || s.ciHigh === null) return null;
  if (s.ciLow > 0) return 1;
  if (s.ciHigh < 0) return -1;
  return 0;
}

/** "0.812 ± 0.013" (mean ± sd), or the mean alone for one value. */
export function formatMeanSd(s: IntervalSummary, digits = 3): string {
  if (s.mean === null) return "n/a";
  return s.sd === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`;
}

/** "+0.042 [+0.011, +0.073]" (mean and interval, signed). */
export function formatDifference(s: IntervalSummary, digits = 3): string {
  const f = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(digits)}`;
  if (s.mean === null) return "n/a";
  return s.ciLow === null || s.ciHigh === null ? f(s.mean) : `${f(s.mean)} [${f(s.ciLow)}, ${f(s.ciHigh)}]`;
}
