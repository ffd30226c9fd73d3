// Spawns the Python worker and owns its life: readiness line, health SERVING (with backoff, racing
// early exit and a deadline), stderr ring buffer, graceful shutdown, process-group kill. The worker
// runs in its own process group (so its helpers die with it) and gets --parent-pid, so it exits
// on its own if we die without cleaning up; while we live, an exit hook kills the group.
import { randomBytes } from "node:crypto";
import { delimiter, resolve } from "node:path";
import { createInterface } from "node:readline";
import { execa, type ResultPromise } from "execa";
import { ArgumentChecks } from "../client/arguments.js";
import { WorkerClient } from "../client/worker-client.js";
import { WorkerExitedError, WorkerStartError } from "./errors.js";
import { HealthRefusedError, HealthTimeoutError, waitForServing } from "./health.js";
import { resolveWorkerPython } from "./interpreter.js";
import { LineRingBuffer } from "./line-ring-buffer.js";
import { makeWorkspaceFolder, pythonWorkerDir } from "./paths.js";
import { parseReadinessLine } from "./readiness.js";
import { sleep, withTimeout } from "./timers.js";
import type { WorkerConnection } from "./connection.js";

export type WorkerDevice = "auto" | "cpu" | "cuda";

export interface SpawnWorkerOptions {
  /** Artifact workspace of the worker; created if missing. */
  workspace: string;
  device?: WorkerDevice | undefined;
  /** Interpreter; default: ROBUSTSEG_PYTHON, else <repo>/.venv/bin/python. */
  python?: string | undefined;
  /** Environment of the worker (default process.env); PYTHONPATH gets python_worker/ prepended. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Bearer token the worker demands; default a fresh random one, `false` for none. */
  token?: string | false | undefined;
  /** Readiness line plus health SERVING must come within this (default 120 s: torch imports slowly). */
  startTimeoutMs?: number | undefined;
  /** Each stderr line of the worker as it comes (the CLI forwards them with --verbose). */
  onStderrLine?: ((line: string) => void) | undefined;
  /** Lines of stderr kept for error messages (default 40). */
  stderrLines?: number | undefined;
  /** Aborting during start-up kills the worker and rejects. */
  signal?: AbortSignal | undefined;
  /** Folders the file-based sources (pannuke, folder) may read: one --data-root each; one path is a list of one. */
  dataRoots?: string | readonly string[] | undefined;
  /** Only read the workspace (--read-only: store verify on read-only storage); whatever would write is refused. */
  readOnly?: boolean | undefined;
}

/** Every option of spawnWorker checked by name before anything starts; the data roots as a list. */
function checkSpawnOptions(options: SpawnWorkerOptions): string[] {
  const check = new ArgumentChecks("spawnWorker");
  const o = check.options(options, true) as SpawnWorkerOptions;
  check.string("workspace", o.workspace);
  check.oneOf("device", o.device, /^(auto|cpu|cuda(:\d+)?)$/, "auto, cpu, cuda or cuda:N");
  check.optionalString("python", o.python);
  check.object("env", o.env);
  if (o.token !== false) check.optionalString("token", o.token);
  check.positiveNumber("startTimeoutMs", o.startTimeoutMs);
  check.callback("onStderrLine", o.onStderrLine);
  check.integer("stderrLines", o.stderrLines, 0);
  check.signal("signal", o.signal);
  check.boolean("readOnly", o.readOnly);
  return check.pathList("dataRoots", o.dataRoots);
}

export interface WorkerExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process could not be spawned at all (e.g. ENOENT). */
  spawnError: string | undefined;
}

export function describeExit(exit: WorkerExit): string {
  if (exit.spawnError !== undefined) return `could not be started (${exit.spawnError})`;
  if (exit.signal !== undefined) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.exitCode ?? "unknown"}`;
}

const DEFAULT_START_TIMEOUT_MS = 120_000;

/** A worker process we started; close() stops it. */
export class SupervisedWorker implements WorkerConnection {
  readonly kind = "spawned";
  readonly client: WorkerClient;
  private exitInfo: WorkerExit | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly address: string,
    readonly pid: number,
    readonly token: string | undefined,
    private readonly stderr: LineRingBuffer,
    private readonly process: ProcessGroup,
  ) {
    this.client = new WorkerClient(address, { token });
    void process.exited.then((exit) => {
      this.exitInfo = exit;
    });
  }

  describe(): string {
    return `worker pid ${this.pid} at ${this.address}`;
  }

  /** The worker's last stderr lines (most recent last). */
  stderrTail(n?: number): string[] {
    return this.stderr.tail(n);
  }

  /** Set once the process has exited. */
  get exit(): WorkerExit | undefined {
    return this.exitInfo;
  }

  get exited(): Promise<WorkerExit> {
    return this.process.exited;
  }

  /**
   * Turns a failed call into a WorkerExitedError when the reason is that the worker died
   * (waits briefly for the exit to be observed); otherwise returns the error unchanged.
   */
  async explainFailure(error: unknown): Promise<unknown> {
    const exit = this.exitInfo ?? (await withTimeout(this.process.exited, 500));
    if (exit === undefined || this.closing !== undefined) return error;
    return new WorkerExitedError(`worker ${describeExit(exit)} while in use`, this.stderr.tail(), { cause: error });
  }

  /**
   * Graceful stop: Shutdown RPC, wait, then SIGTERM, then SIGKILL to the process group.
   * Idempotent; never rejects.
   */
  close(options: { graceMs?: number; termMs?: number } = {}): Promise<void> {
    this.closing ??= this.stop(options.graceMs ?? 5000, options.termMs ?? 3000);
    return this.closing;
  }

  /** Immediate SIGKILL of the process group (synchronous; for a second Ctrl-C or process exit). */
  killNow(): void {
    this.process.kill("SIGKILL");
  }

  private async stop(graceMs: number, termMs: number): Promise<void> {
    try {
      if (this.exitInfo === undefined) {
        try {
          await this.client.shutdown({ timeoutMs: Math.min(graceMs, 2000) });
        } catch {
          // Not answering: the signals below take over.
        }
        if (!(await this.process.waitForExit(graceMs))) {
          this.process.kill("SIGTERM");
          if (!(await this.process.waitForExit(termMs))) {
            this.process.kill("SIGKILL");
            await this.process.waitForExit(termMs);
          }
        }
      }
      // Helpers the worker may have left in its group (data loader processes) go with it.
      this.process.kill("SIGKILL");
    } finally {
      this.client.close();
      this.process.dispose();
    }
  }
}

/** Spawns a worker and resolves once it reports SERVING; rejects with WorkerStartError. */
export async function spawnWorker(options: SpawnWorkerOptions): Promise<SupervisedWorker> {
  const dataRoots = checkSpawnOptions(options);
  const env = options.env ?? process.env;
  const python = options.python ?? resolveWorkerPython(env);
  const workspace = makeWorkspaceFolder(options.workspace);
  const token = options.token === false ? undefined : (options.token ?? randomBytes(24).toString("hex"));
  const args = ["-m", "robustseg_worker", "--listen", "127.0.0.1:0", "--workspace", workspace];
  args.push("--parent-pid", String(process.pid));
  if (options.device !== undefined) args.push("--device", options.device);
  if (options.readOnly === true) args.push("--read-only");
  for (const root of new Set(dataRoots.map((r) => resolve(r)))) args.push("--data-root", root);
  const command = `${python} -m robustseg_worker`;

  const stderr = new LineRingBuffer(options.stderrLines ?? 40);
  // The token travels in the environment, not the command line: other users can read `ps`.
  const group = ProcessGroup.start(python, args, workerEnv(env, token), stderr, options.onStderrLine);
  const deadline = Date.now() + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);

  const fail = async (message: string, cause?: unknown): Promise<never> => {
    group.kill("SIGKILL");
    await group.waitForExit(2000);
    group.dispose();
    throw new WorkerStartError(message, stderr.tail(), { cause });
  };

  // 1. The readiness line, racing exit, deadline and the caller's abort.
  const stopTimer = new AbortController();
  const onCallerAbort = () => stopTimer.abort();
  options.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const first = await Promise.race([
    group.firstStdoutLine.then((line) => ({ kind: "line" as const, line })),
    group.exited.then((exit) => ({ kind: "exit" as const, exit })),
    sleep(Math.max(0, deadline - Date.now()), stopTimer.signal).then(() => ({ kind: "timeout" as const })),
  ]);
  stopTimer.abort();
  options.signal?.removeEventListener("abort", onCallerAbort);
  if (first.kind === "exit" || (first.kind === "line" && first.line === undefined)) {
    const exit = first.kind === "exit" ? first.exit : await group.exited;
    await group.stderrDone;
    if (exit.spawnError !== undefined) return fail(`worker interpreter ${python} ${describeExit(exit)}`);
    return fail(`worker ${describeExit(exit)} before it was ready (${command})`);
  }
  if (first.kind === "timeout") {
    if (options.signal?.aborted) return fail("worker start-up cancelled");
    return fail(`worker printed no readiness line within ${options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms (${command})`);
  }
  const readiness = parseReadinessLine(first.line ?? "");
  if (!readiness.ok) return fail(`worker's readiness line is malformed: ${readiness.problem}`);
  const { address, pid } = readiness.value;

  // 2. Health SERVING, with backoff, stopped early if the process exits.
  const exitedOrAborted = new AbortController();
  void group.exited.then(() => exitedOrAborted.abort(new Error("worker exited")));
  const onAbort = () => exitedOrAborted.abort(new Error("cancelled"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await waitForServing(address, { token, deadline, signal: exitedOrAborted.signal });
  } catch (error) {
    if (group.exit !== undefined) {
      await group.stderrDone;
      return fail(`worker ${describeExit(group.exit)} before it reported SERVING (${command})`, error);
    }
    if (options.signal?.aborted) return fail("worker start-up cancelled", error);
    if (error instanceof HealthTimeoutError || error instanceof HealthRefusedError) return fail(error.message, error);
    return fail(`worker health check failed: ${(error as Error).message}`, error);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return new SupervisedWorker(address, pid, token, stderr, group);
}

/** The worker reads its token from this variable (same as `--token`, but out of the process list). */
export const WORKER_TOKEN_ENV_VAR = "ROBUSTSEG_WORKER_TOKEN";

function workerEnv(env: NodeJS.ProcessEnv, token: string | undefined): NodeJS.ProcessEnv {
  const existing = env.PYTHONPATH;
  const out: NodeJS.ProcessEnv = {
    ...env,
    PYTHONPATH: existing ? `${pythonWorkerDir}${delimiter}${existing}` : pythonWorkerDir,
    PYTHONUNBUFFERED: "1",
  };
  delete out[WORKER_TOKEN_ENV_VAR];
  if (token !== undefined) out[WORKER_TOKEN_ENV_VAR] = token;
  return out;
}

/** The child process as its own process group, with its streams wired and an exit hook. */
class ProcessGroup {
  private exitInfo: WorkerExit | undefined;
  private readonly exitHook = () => this.kill("SIGKILL");

  private constructor(
    private readonly child: ResultPromise,
    readonly exited: Promise<WorkerExit>,
    readonly firstStdoutLine: Promise<string | undefined>,
    readonly stderrDone: Promise<void>,
  ) {
    void exited.then((exit) => {
      this.exitInfo = exit;
    });
    process.on("exit", this.exitHook);
  }

  static start(
    file: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    stderr: LineRingBuffer,
    onStderrLine: ((line: string) => void) | undefined,
  ): ProcessGroup {
    const child = execa(file, args, {
      env,
      extendEnv: false,
      detached: true, // own process group: killable as a whole, and not hit by the terminal's Ctrl-C
      cleanup: false, // we kill the group ourselves (execa's cleanup skips detached children)
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      buffer: false,
      reject: false,
    });
    const exited: Promise<WorkerExit> = child.then(
      (result) => ({
        exitCode: result.exitCode,
        signal: result.signal,
        spawnError: result.exitCode === undefined && result.signal === undefined ? (result.code ?? result.shortMessage) : undefined,
      }),
      (error: unknown) => ({ exitCode: undefined, signal: undefined, spawnError: String(error) }),
    );

    const stderrDone = new Promise<void>((done) => {
      if (!child.stderr) return done();
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        for (const line of stderr.write(chunk)) onStderrLine?.(line);
      });
      const finish = () => {
        for (const line of stderr.end()) onStderrLine?.(line);
        done();
      };
      child.stderr.once("end", finish);
      child.stderr.once("close", finish);
      child.stderr.once("error", finish);
    });
    // Also settle on exit: a grandchild holding the pipe open must not keep us waiting.
    const stderrSettled = exited.then(() => withTimeout(stderrDone, 1000)).then(() => undefined);

    const firstStdoutLine = new Promise<string | undefined>((resolveLine) => {
      if (!child.stdout) return resolveLine(undefined);
      const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
      let seen = false;
      lines.on("line", (line) => {
        if (!seen) {
          seen = true;
          resolveLine(line);
        } else {
          // The worker prints nothing after its readiness line; keep anything stray for errors.
          for (const l of stderr.write(`[stdout] ${line}\n`)) onStderrLine?.(l);
        }
      });
      lines.once("close", () => {
        if (!seen) resolveLine(undefined);
      });
    });
    return new ProcessGroup(child, exited, firstStdoutLine, stderrSettled);
  }

  get exit(): WorkerExit | undefined {
    return this.exitInfo;
  }

  /** Signals the whole group; falls back to the child alone. Never throws. */
  kill(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      if (this.exitInfo === undefined) {
        try {
          this.child.kill(signal);
        } catch {
          // already gone
        }
      }
    }
  }

  /** Resolves true once exited, false when `ms` passes first. */
  async waitForExit(ms: number): Promise<boolean> {
    if (this.exitInfo !== undefined) return true;
    return (await withTimeout(this.exited, ms)) !== undefined;
  }

  dispose(): void {
    process.off("exit", this.exitHook);
  }
}
