// Runs a plan's stages with independent ones at once: every stage whose needs are done starts, in
// the plan's order, while fewer than `concurrency` run. The first failure stops further starts;
// the stages in flight are left to settle (the caller cancels them from `onFailure`), then that
// failure is thrown. Pure scheduling: what a stage does is the caller's `run`.

export interface SchedulerOptions {
  concurrency: number;
  /** Called once, with the first failure, before the stages in flight settle. */
  onFailure?: ((error: unknown) => void) | undefined;
}

export async function runStagesConcurrently<S extends { readonly id: string }>(
  stages: readonly S[],
  needs: ReadonlyMap<string, readonly string[]>,
  run: (stage: S) => Promise<void>,
  options: SchedulerOptions,
): Promise<void> {
  const concurrency = Math.max(1, options.concurrency);
  const pending = [...stages];
  const done = new Set<string>();
  const inFlight = new Map<string, Promise<string>>();
  let failure: { error: unknown } | undefined;
  while (pending.length > 0 || inFlight.size > 0) {
    while (!failure && inFlight.size < concurrency) {
      const next = pending.find((s) => (needs.get(s.id) ?? []).every((id) => done.has(id)));
      if (!next) break;
      pending.splice(pending.indexOf(next), 1);
      const settled = run(next).then(
        () => void done.add(next.id),
        (error: unknown) => {
          if (failure) return;
          failure = { error };
          options.onFailure?.(error);
        },
      );
      inFlight.set(next.id, settled.then(() => next.id));
    }
    if (inFlight.size === 0) {
      if (failure || pending.length === 0) break;
      throw new Error(`internal: stages ${pending.map((s) => s.id).join(", ")} wait on stages that never run`);
    }
    inFlight.delete(await Promise.race(inFlight.values()));
  }
  if (failure) throw failure.error;
}

/**
 * A crashed worker fails every stage in flight; it is restarted once for all of them, not once per
 * stage. An attempt notes `generation` when it begins; after a crash, `afterCrash` restarts the
 * worker unless a restart has happened since (another stage's), and waits for the one in progress.
 */
export class SharedRestart {
  private restarts = 0;
  private restarting: Promise<void> | undefined;

  constructor(private readonly restart: () => Promise<void>) {}

  /** How many restarts have finished. */
  get generation(): number {
    return this.restarts;
  }

  /**
   * Whether the worker an attempt began on (at `seenGeneration`) is being or has been replaced:
   * that attempt's failure is the crash's, whatever error its next call met (a closed channel).
   */
  replacedSince(seenGeneration: number): boolean {
    return this.restarting !== undefined || this.restarts !== seenGeneration;
  }

  /** Resolves when no restart is in progress (an attempt must not begin on the dead worker). */
  async settled(): Promise<void> {
    await this.restarting;
  }

  async afterCrash(seenGeneration: number): Promise<void> {
    if (!this.restarting && this.restarts === seenGeneration) {
      this.restarting = this.restart()
        .then(() => void this.restarts++)
        .finally(() => (this.restarting = undefined));
    }
    await this.restarting;
  }
}
