// Seeds: the experiment repeated once per seed (the training seed: initialisation, shuffling,
// augmentation, adversarial training's random starts; the data seed stays fixed unless the spec
// says `varyData: true`), each seed in its own run folder `seeds/seed-<s>/` with its own stage
// cache, so an interrupted series resumes inside the seed it was in, and a finished seed (its
// results.json, for the same spec) is read back instead of run again.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const seedsSchema = z
  .array(z.int({ error: "must be a non-negative integer" }).min(0, "must be a non-negative integer"), { error: "must be a list of seeds, e.g. [0, 1, 2]" })
  .min(1, "needs at least one seed")
  .refine((v) => new Set(v).size === v.length, "must not repeat a seed");

export class SeedListError extends Error {
  override readonly name = "SeedListError";
}

/** `--seeds 0,1,2` (also `0-2`): distinct non-negative integers in the given order. */
export function parseSeedList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",").map((s) => s.trim())) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) throw new SeedListError(`--seeds: the range ${part} runs backwards`);
      for (let s = a; s <= b; s++) out.push(s);
    } else if (/^\d+$/.test(part)) out.push(Number(part));
    else throw new SeedListError(`--seeds: must be non-negative integers separated by commas (e.g. 0,1,2), got ${JSON.stringify(text)}`);
  }
  if (new Set(out).size !== out.length) throw new SeedListError(`--seeds: repeats a seed (${text})`);
  if (out.length > 100) throw new SeedListError(`--seeds: at most 100 seeds, got ${out.length}`);
  return out;
}

export function seedRunDir(runDir: string, seed: number): string {
  return join(runDir, "seeds", `seed-${seed}`);
}

/** The spec of one seed: the training seed replaced, and the data seed too when `varyData`. */
export function specForSeed<S extends { training: { seed: number }; data: object }>(spec: S, seed: number, varyData: boolean): S {
  const data = varyData ? { ...spec.data, seed } : spec.data;
  return { ...spec, data, training: { ...spec.training, seed } };
}

/** Whether a data block has a seed `varyData` can vary (PanNuke's folds have none). */
export function dataHasSeed(data: object): boolean {
  return "seed" in data;
}

export interface SeedOutcome<R> {
  seed: number;
  runDir: string;
  results: R;
  /** Read back from a finished seed's results.json; nothing ran. */
  cached: boolean;
  seconds: number;
}

export interface SeedSeriesOptions<R> {
  seeds: readonly number[];
  runDir: string;
  /** Runs one seed in its folder (resuming from its stage cache). */
  runOne: (seed: number, seedDir: string) => Promise<R>;
  /** A finished seed's results when they belong to this seed's spec, else undefined. */
  reuse?: ((seed: number, seedDir: string, results: R) => boolean) | undefined;
  onSeedStart?: ((seed: number, index: number, total: number) => void) | undefined;
  onSeedEnd?: ((outcome: SeedOutcome<R>, index: number, total: number) => void | Promise<void>) | undefined;
  signal?: AbortSignal | undefined;
}

/** Runs (or reads back) every seed in order. */
export async function runSeedSeries<R>(options: SeedSeriesOptions<R>): Promise<SeedOutcome<R>[]> {
  const out: SeedOutcome<R>[] = [];
  for (const [i, seed] of options.seeds.entries()) {
    options.signal?.throwIfAborted();
    const dir = seedRunDir(options.runDir, seed);
    options.onSeedStart?.(seed, i, options.seeds.length);
    const t0 = performance.now();
    let outcome: SeedOutcome<R> | undefined;
    const file = join(dir, "results.json");
    if (options.reuse && existsSync(file)) {
      try {
        const previous = JSON.parse(await readFile(file, "utf8")) as R;
        if (options.reuse(seed, dir, previous)) outcome = { seed, runDir: dir, results: previous, cached: true, seconds: (performance.now() - t0) / 1000 };
      } catch {
        outcome = undefined; // unreadable: run the seed again
      }
    }
    if (!outcome) {
      const results = await options.runOne(seed, dir);
      outcome = { seed, runDir: dir, results, cached: false, seconds: (performance.now() - t0) / 1000 };
    }
    out.push(outcome);
    await options.onSeedEnd?.(outcome, i, options.seeds.length);
  }
  return out;
}
