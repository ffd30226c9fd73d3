// The benchmark's Python driver (python_worker/robustseg_worker/bench): one JSON request per line
// on its stdin, one JSON answer per line on its stdout. It runs the worker's own engine in-process
// on the same workspace, so the orchestrator can put in-process work beside the same work done
// through the worker and the CLI, interleaved.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { delimiter } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { resolveWorkerPython } from "../worker/interpreter.js";
import { pythonWorkerDir } from "../worker/paths.js";

export class DriverError extends Error {
  override name = "DriverError";
}

/** Wall and CPU seconds of one timed operation, with its memory peaks. */
export interface Timing {
  seconds: number;
  cpuSeconds: number;
  peakRssBytes: number | null;
  peakRssSinceReset: boolean;
  cudaMaxAllocatedBytes: number | null;
}

export class BenchDriver {
  private readonly lines: Interface;
  private readonly pending: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  private readonly stderr: string[] = [];
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout });
    this.lines.on("line", (line) => {
      const waiter = this.pending.shift();
      if (!waiter) return;
      try {
        waiter.resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        waiter.reject(new DriverError(`bench driver answered a line that is not JSON: ${line.slice(0, 200)}`));
      }
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 40) this.stderr.shift();
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      const why = new DriverError(`bench driver exited (${signal ?? `code ${String(code)}`}): ${this.stderr.slice(-5).join(" | ")}`);
      for (const w of this.pending.splice(0)) w.reject(why);
    });
  }

  static start(env: NodeJS.ProcessEnv = process.env): BenchDriver {
    const python = resolveWorkerPython(env);
    const pythonPath = [pythonWorkerDir, env.PYTHONPATH].filter((p) => p !== undefined && p !== "").join(delimiter);
    const child = spawn(python, ["-m", "robustseg_worker.bench", "serve"], {
      env: { ...env, PYTHONPATH: pythonPath, OMP_WAIT_POLICY: env.OMP_WAIT_POLICY ?? "PASSIVE" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new BenchDriver(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one request; resolves with the answer's fields (throws when the driver says ok: false). */
  async call<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) throw new DriverError(`bench driver is not running: ${this.stderr.slice(-5).join(" | ")}`);
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ op, ...args })}\n`);
    });
    if (answer.ok !== true) throw new DriverError(`bench driver ${op}: ${String(answer.error)}`);
    const { ok: _ok, ...rest } = answer;
    return rest as T;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await done;
    clearTimeout(timer);
  }
}
