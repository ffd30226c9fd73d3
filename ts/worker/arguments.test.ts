// spawnWorker, connectWorker and WorkerClient check their options by name before anything starts:
// one data-root path is a list of that one folder (never its characters), NaN is no timeout, and
// a value of the wrong kind is a one-line TypeError or RangeError naming the option.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { WorkerClient } from "../client/worker-client.js";
import { WorkerStartError } from "./errors.js";
import { connectWorker } from "./remote.js";
import { type SpawnWorkerOptions, spawnWorker } from "./supervisor.js";

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An interpreter that writes its arguments, one a line, to `file` and exits before being ready. */
function recordingPython(file: string): string {
  const path = join(dir, "recording-python.sh");
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" > "${file}"\nexit 3\n`);
  chmodSync(path, 0o755);
  return path;
}

async function dataRootArguments(dataRoots: SpawnWorkerOptions["dataRoots"]): Promise<string[]> {
  const file = join(dir, "argv.txt");
  const error = await spawnWorker({ workspace: join(dir, "ws"), python: recordingPython(file), dataRoots }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkerStartError);
  const argv = readFileSync(file, "utf8").trimEnd().split("\n");
  return argv.flatMap((arg, i) => (argv[i - 1] === "--data-root" ? [arg] : []));
}

describe("spawnWorker's data roots", () => {
  it("takes one path as a list of that one folder", async () => {
    expect(await dataRootArguments("/data/only-here")).toEqual(["/data/only-here"]);
  });

  it("keeps every folder of a list, once each", async () => {
    expect(await dataRootArguments(["/data/a", "/data/b", "/data/a"])).toEqual(["/data/a", "/data/b"]);
    expect(await dataRootArguments(undefined)).toEqual([]);
  });
});

describe("spawnWorker refuses a wrong option by name before starting anything", () => {
  const workspace = join(dir, "never-made");
  it.each([
    [{ dataRoots: ["/data", 3] }, TypeError, 'spawnWorker: dataRoots[1]: must be a non-empty string, got 3'],
    [{ dataRoots: [""] }, TypeError, 'spawnWorker: dataRoots[0]: must be a non-empty string, got ""'],
    [{ dataRoots: 7 }, TypeError, "spawnWorker: dataRoots: must be a path or an array of paths, got 7"],
    [{ workspace: undefined }, TypeError, "spawnWorker: workspace: must be a non-empty string, got undefined"],
    [{ device: "gpu" }, TypeError, 'spawnWorker: device: must be auto, cpu, cuda or cuda:N, got "gpu"'],
    [{ token: "" }, TypeError, 'spawnWorker: token: must be a non-empty string, got ""'],
    [{ startTimeoutMs: Number.NaN }, RangeError, "spawnWorker: startTimeoutMs: must be a finite number > 0, got NaN"],
    [{ startTimeoutMs: Number.POSITIVE_INFINITY }, RangeError, "spawnWorker: startTimeoutMs: must be a finite number > 0, got Infinity"],
    [{ stderrLines: 2.5 }, RangeError, "spawnWorker: stderrLines: must be an integer >= 0, got 2.5"],
    [{ onStderrLine: "log" }, TypeError, 'spawnWorker: onStderrLine: must be a function, got "log"'],
    [{ signal: {} }, TypeError, "spawnWorker: signal: must be an AbortSignal, got Object"],
  ])("%o", async (change, type, message) => {
    const options = { workspace, python: "/nonexistent/python", ...change } as unknown as SpawnWorkerOptions;
    const error = await spawnWorker(options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toBe(message);
    expect(existsSync(workspace)).toBe(false);
  });

  it("refuses no options at all", async () => {
    await expect(spawnWorker(undefined as unknown as SpawnWorkerOptions)).rejects.toThrow("spawnWorker: options: must be an object, got undefined");
  });
});

describe("connectWorker and WorkerClient refuse a wrong option by name", () => {
  it.each([
    [{ address: 50051 }, "connectWorker: address: must be a non-empty string, got 50051"],
    [{ address: "localhost:1", timeoutMs: Number.NaN }, "connectWorker: timeoutMs: must be a finite number > 0, got NaN"],
    [{ address: "localhost:1", token: 1234 }, "connectWorker: token: must be a non-empty string, got 1234"],
    [{ address: "localhost:1", tls: { ca: "ca.pem" } }, 'connectWorker: tls.ca: must be a Buffer (PEM bytes), got "ca.pem"'],
    [{ address: "localhost:1", tls: { cert: Buffer.from("x") } }, "connectWorker: tls.key: must be given with the other of tls.cert and tls.key, got undefined"],
  ])("%o", async (options, message) => {
    await expect(connectWorker(options as never)).rejects.toThrow(message);
  });

  it("WorkerClient checks its address, options and each call's timeout", async () => {
    expect(() => new WorkerClient(undefined as unknown as string)).toThrow("WorkerClient: address: must be a non-empty string, got undefined");
    expect(() => new WorkerClient("localhost:1", { token: 5 } as never)).toThrow("WorkerClient: token: must be a non-empty string, got 5");
    const client = new WorkerClient("localhost:1");
    try {
      await expect(client.getInfo({ timeoutMs: Number.NaN })).rejects.toThrow("WorkerClient call: timeoutMs: must be a finite number > 0, got NaN");
    } finally {
      client.close();
    }
  });
});
