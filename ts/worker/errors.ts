// Errors of starting, reaching and stopping a worker (as opposed to errors of the calls made to it,
// which are WorkerError in ts/client/errors.ts).

/** The worker could not be started or reached; `stderrTail` holds its last stderr lines, if any. */
export class WorkerStartError extends Error {
  override readonly name = "WorkerStartError";
  constructor(
    message: string,
    readonly stderrTail: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(stderrTail.length > 0 ? `${message}\nworker stderr (last lines):\n${stderrTail.join("\n")}` : message, options);
    this.summary = message;
  }
  /** The message without the stderr tail: one line. */
  readonly summary: string;
}

/** A worker we spawned exited while we were still using it. */
export class WorkerExitedError extends Error {
  override readonly name = "WorkerExitedError";
  constructor(
    readonly summary: string,
    readonly stderrTail: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(stderrTail.length > 0 ? `${summary}\nworker stderr (last lines):\n${stderrTail.join("\n")}` : summary, options);
  }
}
