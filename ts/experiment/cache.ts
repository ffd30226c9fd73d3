// The run folder's cache of control-plane results (method-two choices, evaluations), keyed by a
// hash of their inputs. Artifacts (datasets, models) are cached by the worker instead.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../files/atomic.js";

export class RunCache {
  constructor(readonly dir: string) {}

  static key(kind: string, inputs: unknown): string {
    return `${kind}-${createHash("sha256").update(JSON.stringify({ kind, inputs })).digest("hex").slice(0, 24)}`;
  }

  file(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      const entry = JSON.parse(await readFile(this.file(key), "utf8")) as { value: T };
      return entry.value;
    } catch {
      return undefined; // missing or half-written: recompute
    }
  }

  async set(key: string, inputs: unknown, value: unknown): Promise<void> {
    await writeJsonAtomic(this.file(key), { key, inputs, value }, "cache.write");
  }

  /** The cached result of `kind` on `inputs`, or `compute()`'s, stored before it is returned. */
  async getOrCompute<T>(kind: string, inputs: unknown, compute: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    const key = RunCache.key(kind, inputs);
    const hit = await this.get<T>(key);
    if (hit !== undefined) return { value: hit, cached: true };
    const value = await compute();
    await this.set(key, inputs, value);
    return { value, cached: false };
  }
}
