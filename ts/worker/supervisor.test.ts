// The supervisor against stand-in workers: a script that exits at once, and a Node gRPC server
// speaking the worker's start-up protocol (test/fixtures/fake-worker.ts); no torch involved.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, eventually, exitingPython, fakeWorkerPython, scratchDir } from "../../test/fixtures/scripts.js";
import { WorkerError } from "../client/errors.js";
import { WorkerClient } from "../client/worker-client.js";
import { WorkerExitedError, WorkerStartError } from "./errors.js";
import { resolveWorkerPython } from "./interpreter.js";
import { connectWorker } from "./remote.js";
import { type SpawnWorkerOptions, spawnWorker, type SupervisedWorker } from "./supervisor.js";

const dir = scratchDir();
const workspace = join(dir, "workspace");
const fakePython = fakeWorkerPython(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spawnFake(mode: string, extra: Partial<SpawnWorkerOptions> = {}): Promise<SupervisedWorker> {
  return spawnWorker({ workspace, python: fakePython, env: { ...process.env, FAKE_WORKER_MODE: mode }, ...extra });
}

async function startError(promise: Promise<unknown>): Promise<WorkerStartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkerStartError);
  return error as WorkerStartError;
}

describe("resolveWorkerPython", () => {
  it("names the missing interpreter and how to fix it", () => {
    const missing = join(dir, "no-such-python");
    expect(() => resolveWorkerPython({ ROBUSTSEG_PYTHON: missing })).toThrow(
      `worker interpreter not found: ${missing} (set ROBUSTSEG_PYTHON or run \`npm run setup\`)`,
    );
  });

  it("refuses a file that is not executable", () => {
    const file = join(dir, "not-executable");
    writeFileSync(file, "");
    expect(() => resolveWorkerPython({ ROBUSTSEG_PYTHON: file })).toThrow(/worker interpreter is not executable/);
  });

  it("takes ROBUSTSEG_PYTHON when it is set", () => {
    expect(resolveWorkerPython({ ROBUSTSEG_PYTHON: fakePython })).toBe(fakePython);
  });
});

describe("spawnWorker start-up failures", () => {
  it("reports a missing interpreter before spawning", async () => {
    const error = await startError(spawnWorker({ workspace, env: { ROBUSTSEG_PYTHON: join(dir, "missing") } }));
    expect(error.summary).toMatch(/^worker interpreter not found: .*missing/);
  });

  it("fails fast with the worker's stderr when it exits during start-up", async () => {
    const python = exitingPython(dir, 3, "ImportError: no module named torch (fixture)");
    const error = await startError(spawnWorker({ workspace, python, startTimeoutMs: 60_000 }));
    expect(error.summary).toMatch(/exited with code 3 before it was ready/);
    expect(error.stderrTail).toContain("ImportError: no module named torch (fixture)");
    expect(error.message).toContain("ImportError: no module named torch (fixture)");
  });

  it("rejects a malformed readiness line", async () => {
    const error = await startError(spawnFake("bad-line"));
    expect(error.summary).toMatch(/readiness line is malformed: not JSON/);
  });

  it("gives up at the deadline when no readiness line comes", async () => {
    // The deadline must leave the fake (Node + tsx compiling the generated contract) time to start
    // under load; it is what is tested, not how short it is.
    const error = await startError(spawnFake("never-ready", { startTimeoutMs: 6000 }));
    expect(error.summary).toMatch(/no readiness line within 6000 ms/);
    expect(error.stderrTail).toContain("fake worker starting in mode never-ready");
  });

  it("gives up at the deadline when health never says SERVING", async () => {
    const error = await startError(spawnFake("not-serving", { startTimeoutMs: 6000 }));
    expect(error.summary).toMatch(/did not report SERVING in time \(last: /);
  });

  it("stops when the caller aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = await startError(spawnFake("never-ready", { signal: controller.signal }));
    expect(error.summary).toBe("worker start-up cancelled");
  });
});

describe("a supervised worker", () => {
  let worker: SupervisedWorker;
  const stderrLines: string[] = [];
  beforeAll(async () => {
    worker = await spawnFake("ok", { onStderrLine: (line) => stderrLines.push(line) });
  });
  afterAll(() => worker.close());

  it("reports its address and pid and answers calls with its token", async () => {
    expect(worker.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(alive(worker.pid)).toBe(true);
    const info = await worker.client.getInfo();
    expect(info.version).toBe("fake");
    expect(info.workspace).toBe(workspace);
  });

  it("forwards stderr lines and keeps them for errors", () => {
    expect(stderrLines).toContain("fake worker starting in mode ok");
    expect(worker.stderrTail()).toContain("fake worker starting in mode ok");
  });

  it("refuses calls without the token it was started with", async () => {
    const stranger = new WorkerClient(worker.address);
    try {
      await expect(stranger.getInfo()).rejects.toMatchObject({ codeName: "UNAUTHENTICATED" });
    } finally {
      stranger.close();
    }
  });

  it("lets --worker-style connections in with the token and refuses them without", async () => {
    await expect(connectWorker({ address: worker.address, timeoutMs: 2000 })).rejects.toThrow(/refused the health check.*check --token/);
    const remote = await connectWorker({ address: worker.address, token: worker.token, timeoutMs: 2000 });
    expect((await remote.client.getInfo()).version).toBe("fake");
    await remote.close();
    expect(alive(worker.pid)).toBe(true); // closing a remote connection leaves the worker running
  });
});

describe("stopping workers", () => {
  it("shuts down gracefully with the Shutdown RPC", async () => {
    const worker = await spawnFake("ok");
    await worker.close();
    expect(worker.exit).toMatchObject({ exitCode: 0 });
    expect(alive(worker.pid)).toBe(false);
  });

  it("falls back to SIGTERM then SIGKILL when the worker ignores Shutdown and SIGTERM", async () => {
    const worker = await spawnFake("ignore-shutdown");
    await worker.close({ graceMs: 300, termMs: 300 });
    expect(worker.exit?.signal).toBe("SIGKILL");
    expect(worker.stderrTail()).toContain("ignoring SIGTERM");
  });

  it("kills the worker's whole process group, leaving no orphans", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const worker = await spawnFake("grandchild", { env: { ...process.env, FAKE_WORKER_MODE: "grandchild", FAKE_WORKER_PIDFILE: pidFile } });
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    expect(alive(grandchild)).toBe(true);
    await worker.close();
    expect(await eventually(() => !alive(grandchild))).toBe(true);
  });

  it("explains a failed call by the worker's death", async () => {
    const worker = await spawnFake("ok");
    try {
      process.kill(worker.pid, "SIGKILL");
      await worker.exited;
      const failure = await worker.client.getInfo({ timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(WorkerError);
      const explained = await worker.explainFailure(failure);
      expect(explained).toBeInstanceOf(WorkerExitedError);
      expect((explained as WorkerExitedError).summary).toBe("worker was killed by SIGKILL while in use");
    } finally {
      await worker.close();
    }
  });
});

describe("connectWorker", () => {
  it("fails clearly when nothing listens at the address", async () => {
    await expect(connectWorker({ address: "127.0.0.1:9", timeoutMs: 800 })).rejects.toThrow(/^cannot reach a worker at 127\.0\.0\.1:9/);
  });

  it("refuses an address that is not HOST:PORT", async () => {
    await expect(connectWorker({ address: "localhost" })).rejects.toThrow("--worker: expected HOST:PORT, got localhost");
  });
});
