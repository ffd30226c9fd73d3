// Running a command's work against a worker: open it (spawn or --worker), give the work a
// client, a cancellation signal and a progress reporter, and always let go of the worker after,
// also on Ctrl-C (first: cancel the call and shut down; second: kill the worker at once).
import type { WorkerClient } from "../client/worker-client.js";
import type { Reporter } from "../ops/reporter.js";
import { openWorker, type WorkerConnection } from "../worker/index.js";
import type { CliContext } from "./context.js";
import { EXIT_INTERRUPTED, InterruptedError } from "./errors.js";
import type { GlobalOptions } from "./global-options.js";
import { progressReporter } from "./progress-bars.js";

export interface WorkerSession {
  connection: WorkerConnection;
  client: WorkerClient;
  signal: AbortSignal;
  reporter: Reporter;
}

export async function withWorker<T>(context: CliContext, globals: GlobalOptions, work: (session: WorkerSession) => Promise<T>): Promise<T> {
  const { io } = context;
  const showProgress = !globals.json && !globals.quiet;
  const reporter = progressReporter(showProgress ? io.progressStream : undefined);
  const controller = new AbortController();
  let connection: WorkerConnection | undefined;
  let interrupts = 0;

  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      reporter.stopAll();
      io.stderr(`\n${signal === "SIGINT" ? "interrupted" : signal}: cancelling (again to stop at once)\n`);
      controller.abort(new InterruptedError());
    } else {
      connection?.killNow();
      process.exit(EXIT_INTERRUPTED);
    }
  };
  if (context.handleSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    if (showProgress && io.progressStream && globals.worker === undefined) io.stderr("starting the worker...\n");
    try {
      connection = await openWorker({
        worker: globals.worker,
        token: globals.token,
        workspace: globals.workspace,
        device: globals.device,
        env: io.env,
        signal: controller.signal,
        onStderrLine: globals.verbose ? (line) => io.stderr(`[worker] ${line}\n`) : undefined,
      });
    } catch (error) {
      if (controller.signal.aborted) throw new InterruptedError();
      throw error;
    }
    if (globals.verbose) io.stderr(`using ${connection.describe()}\n`);
    try {
      return await work({ connection, client: connection.client, signal: controller.signal, reporter });
    } catch (error) {
      if (controller.signal.aborted) throw new InterruptedError();
      throw await connection.explainFailure(error);
    }
  } finally {
    reporter.stopAll();
    await connection?.close();
    if (context.handleSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}
