// How long work tells its caller how far it is. The CLI renders it as progress bars; the
// experiment runner and tests pass silentReporter (or their own).

export interface ProgressUpdate {
  /** What is running, e.g. "dataset", "train", "evaluate". A new stage starts a new bar. */
  stage: string;
  done: number;
  /** 0 when unknown. */
  total: number;
  /** Short status, e.g. "epoch 2/5 loss 0.312". */
  message?: string | undefined;
}

export interface Reporter {
  progress(update: ProgressUpdate): void;
  /** The current stage is over (its bar can close). */
  endStage(): void;
  /**
   * A reporter for one of several stages that run at once: its progress shows apart from the
   * others' (a bar, or log lines, of its own) and its endStage() closes only that. Absent: the
   * stages share this reporter.
   */
  lane?(label: string): Reporter;
}

export const silentReporter: Reporter = {
  progress() {},
  endStage() {},
};

/** What every operation takes besides its parameters. */
export interface OperationContext {
  reporter?: Reporter | undefined;
  /** Aborting cancels the running call. */
  signal?: AbortSignal | undefined;
}
