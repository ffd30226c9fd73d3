// Running a command's work against a worker: open it (spawn or --worker), give the work a
// client, a cancellation signal and a progress reporter, and always let go of the worker after,
// also on Ctrl-C (first: cancel the call and shut down; second: kill the worker at once).
import type { WorkerClient } from "../client/worker-client.js";
import type { Reporter } from "../ops/reporter.js";
import { loadTlsFiles } from "../client/channel.js";
import { isUnwritableFolder } from "../files/make-folder.js";
import { openWorker, type WorkerConnection } from "../worker/index.js";
import type { CliContext } from "./context.js";
import { EXIT_INTERRUPTED, InterruptedError } from "./errors.js";
import type { GlobalOptions } from "./global-options.js";
import { progressReporter } from "./progress-bars.js";
import { plainProgressReporter } from "./progress-lines.js";
import type { CliIO } from "./context.js";

export interface WorkerSession {
  connection: WorkerConnection;
  client: WorkerClient;
  signal: AbortSignal;
  reporter: Reporter;
  /** Replaces the worker after a crash: a spawned one is killed and spawned again, a remote one reconnected. */
  restart(): Promise<void>;
}

/**
 * How progress shows: bars on a terminal, log lines otherwise (or with --progress plain), nothing
 * with --quiet or --progress none; with --json only when --progress is given explicitly.
 */
export function progressMode(globals: GlobalOptions, io: CliIO, progressGiven: boolean): "bar" | "plain" | "none" {
  if (globals.quiet || globals.progress === "none" || (globals.json && !progressGiven)) return "none";
  if (globals.progress === "plain") return "plain";
  return io.progressStream ? "bar" : "plain";
}

export interface SessionOptions {
  /**
   * For work that only reads the workspace (store verify): a spawned worker whose workspace this
   * process cannot write to is started with --read-only, instead of refusing to start.
   */
  readOnlyWhenUnwritable?: boolean;
}

export async function withWorker<T>(
  context: CliContext,
  globals: GlobalOptions,
  work: (session: WorkerSession) => Promise<T>,
  options: SessionOptions = {},
): Promise<T> {
  const { io } = context;
  const mode = progressMode(globals, io, globals.progressGiven);
  const reporter =
    mode === "bar" ? progressReporter(io.progressStream) : mode === "plain" ? plainProgressReporter({ write: (l) => io.stderr(l) }) : progressReporter(undefined);
  const showProgress = mode !== "none";
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
    if (showProgress && globals.worker === undefined) io.stderr("starting the worker...\n");
    const tls = loadTlsFiles({ ca: globals.tlsCa, cert: globals.tlsCert, key: globals.tlsKey, serverName: globals.tlsServerName });
    const readOnly = options.readOnlyWhenUnwritable === true && globals.worker === undefined && isUnwritableFolder(globals.workspace);
    const open = async (): Promise<WorkerConnection> => {
      try {
        return await openWorker({
          worker: globals.worker,
          token: globals.token,
          tls,
          workspace: globals.workspace,
          device: globals.device,
          env: io.env,
          dataRoots: globals.dataRoot,
          readOnly,
          signal: controller.signal,
          onStderrLine: globals.verbose ? (line) => io.stderr(`[worker] ${line}\n`) : undefined,
        });
      } catch (error) {
        if (controller.signal.aborted) throw new InterruptedError();
        throw error;
      }
    };
    connection = await open();
    if (globals.verbose) io.stderr(`using ${connection.describe()}\n`);
    const session: WorkerSession = {
      get connection() {
        return connection as WorkerConnection;
      },
      get client() {
        return (connection as WorkerConnection).client;
      },
      signal: controller.signal,
      reporter,
      restart: async () => {
        const old = connection;
        connection = undefined;
        if (old) {
          if (old.kind === "spawned") old.killNow();
          await old.close();
        }
        if (showProgress) io.stderr("the worker failed; restarting it and retrying the stage\n");
        connection = await open();
      },
    };
    try {
      return await work(session);
    } catch (error) {
      if (controller.signal.aborted) throw new InterruptedError();
      throw connection ? await connection.explainFailure(error) : error;
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
