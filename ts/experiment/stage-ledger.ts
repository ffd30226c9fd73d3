// What each stage of a run cost when it was computed, kept in the run folder (cache/stages.json)
// so the stage table of a resumed or repeated run still shows the original compute time and the
// attempts it took, instead of "reused, 0.0 s". An attempt is counted when it starts,
// so attempts cut short by a killed CLI or worker count too.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "../files/atomic.js";

export const LEDGER_FILE = "stages.json";

interface Entry {
  /** Attempts started, over every session of this run folder. */
  attempts: number;
  /** Set when the stage's outputs were computed (not reused): what it cost then. */
  computed?: { seconds: number; attempts: number; outputs: string } | undefined;
}

export interface StageCost {
  seconds: number;
  attempts: number;
}

export class StageLedger {
  // Stages that run at once write one after another, each the whole ledger as it is then, so the
  // last write holds every update.
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly entries: Record<string, Entry>,
  ) {}

  /** The ledger of a run folder's cache; a missing or damaged file starts empty. */
  static async open(cacheDir: string): Promise<StageLedger> {
    const file = join(cacheDir, LEDGER_FILE);
    let entries: Record<string, Entry> = {};
    try {
      const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) entries = parsed as Record<string, Entry>;
    } catch {
      // none yet, or half-written by a killed run: the costs are then re-learnt
    }
    return new StageLedger(file, entries);
  }

  private entry(id: string): Entry {
    const e = this.entries[id];
    if (e && typeof e.attempts === "number") return e;
    return (this.entries[id] = { attempts: 0 });
  }

  /** An attempt of the stage begins (persisted before any work). */
  async started(id: string): Promise<void> {
    this.entry(id).attempts++;
    await this.persist();
  }

  /**
   * The stage ended. `outputs` names what it produced (ids, cache keys); `computeSeconds` is the
   * worker's own record of the compute time where it has one (a resumed training includes the
   * epochs before the interruption). Returns the cost the stage table shows.
   */
  async finished(id: string, outcome: { reused: boolean; elapsed: number; outputs: string; computeSeconds?: number | undefined }): Promise<StageCost> {
    const e = this.entry(id);
    const known = e.computed && e.computed.outputs === outcome.outputs ? e.computed : undefined;
    let cost: StageCost;
    if (outcome.reused && known) cost = { seconds: known.seconds, attempts: known.attempts };
    else cost = { seconds: outcome.computeSeconds ?? outcome.elapsed, attempts: Math.max(1, e.attempts) };
    e.computed = { ...cost, outputs: outcome.outputs };
    e.attempts = 0;
    await this.persist();
    return cost;
  }

  private persist(): Promise<void> {
    const write = this.writing.catch(() => undefined).then(() => writeJsonAtomic(this.file, this.entries));
    this.writing = write;
    return write;
  }
}
