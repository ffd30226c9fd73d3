// Measuring under shared load: every figure is a median of repeats, and the implementations being
// compared run interleaved (A B C, B C A, C A B, ...), so that load from other processes hits each
// alike and no implementation always runs first (warm caches) or last.

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return a / b;
}

export function maxOrNull(xs: readonly (number | null | undefined)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === "number");
  return v.length === 0 ? null : Math.max(...v);
}

/**
 * Runs each named task `repeats` times, interleaved with a rotating order; returns every task's
 * results in repeat order. `warmup` runs each task once first, unrecorded.
 */
export async function interleave<T>(
  tasks: Readonly<Record<string, () => Promise<T>>>,
  repeats: number,
  options: { warmup?: boolean; onRound?: (round: number) => void } = {},
): Promise<Record<string, T[]>> {
  const names = Object.keys(tasks);
  const out: Record<string, T[]> = Object.fromEntries(names.map((n) => [n, []]));
  if (options.warmup) for (const n of names) await (tasks[n] as () => Promise<T>)();
  for (let r = 0; r < repeats; r++) {
    options.onRound?.(r);
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length] as string;
      (out[name] as T[]).push(await (tasks[name] as () => Promise<T>)());
    }
  }
  return out;
}

/** Wall seconds of an async task. */
export async function wallSeconds<T>(task: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await task();
  return { seconds: (performance.now() - t0) / 1000, value };
}
