// The CLI run in-process with captured output: usage errors (before any worker starts), the one
// error handler's messages and exit codes, and commands against the fake worker.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { runCliCaptured } from "../../test/fixtures/cli.js";
import { fakeWorkerPython, scratchDir } from "../../test/fixtures/scripts.js";
import { WorkerError } from "../client/errors.js";
import { WorkerExitedError, WorkerStartError } from "../worker/errors.js";
import { reportError } from "./errors.js";

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCliCaptured(argv, { env, prefix: ["--workspace", join(dir, "ws")] });

// A "python" that cannot exist: any attempt to spawn a worker fails loudly with this path.
const noWorker = { ROBUSTSEG_PYTHON: "/nonexistent/python-for-cli-test" };

describe("usage errors are caught before a worker starts", () => {
  it.each([
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--epochs", "-1"], "error: --epochs: must be a positive integer, got -1"],
    [["dataset", "create", "--tile-size", "0"], "error: --tile-size: must be a positive integer, got 0"],
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--lr", "-0.1"], "error: --lr: must be a positive number, got -0.1"],
    [["train", "--validation", "b"], "error: --train: required (one or more dataset ids)"],
    [["evaluate", "--dataset", "d"], "error: --model: required (a model id)"],
    [["--worker", "nohost", "info"], "error: --worker: must be HOST:PORT, got nohost"],
    [["train", "--bogus"], "error: unknown option '--bogus'"],
    [["frobnicate"], "error: unknown command 'frobnicate'"],
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--backend", "keras"], "error: --backend: must be one of unet, smp, monai, got keras"],
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--encoder", "resnet18"], "error: --encoder: not an option of --backend unet (it is for smp)"],
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--backend", "smp", "--depth", "3"], "error: --depth: not an option of --backend smp (it is for unet)"],
    [["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--backend", "monai", "--strides", "2,x"], "error: --strides: must be positive integers separated by commas, got 2,x"],
    [["dataset", "create", "--labeling", "colour"], "error: --labeling: not an option of --source synthetic-histology (it is for kandinsky)"],
    [["dataset", "create", "--source", "folder"], "error: --path: required (a folder with images/ and masks/), or --train-path/--validation-path/--test-path"],
    [["attack", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--budget", "total"], "error: --budget: not an option of --method pgd (it is for layered-pgd)"],
    [["attack", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--method", "fgsm", "--steps", "5"], "error: --steps: not an option of --method fgsm (it is for pgd, segpgd, cospgd, apgd, layered-pgd)"],
    [["evaluate", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--epsilon", "0.1"], "error: --epsilon: needs --attack"],
    [["export", "m-0123456789abcdef", "--format", "zip"], "error: --format: must be one of onnx, torchscript, safetensors, got zip"],
    [["probe", "--model", "m-0123456789abcdef", "--input", "x.png", "--epsilon", "-1"], "error: --epsilon: must be a positive number, got -1"],
  ])("%j → one line, exit code 2", async (argv, expected) => {
    const { code, stdout, stderr } = await run(argv, noWorker);
    expect(stderr).toBe(`${expected}\n`);
    expect(stdout).toBe("");
    expect(code).toBe(2);
  });

  // Options that do not apply, wrong id kinds and paths that cannot be used are refused
  // here, not ignored or found after the work.
  const file = join(dir, "a-file.txt");
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, "not a folder\n");
  const M = "m-0123456789abcdef";
  const D = "ds-0123456789abcdef";
  it.each([
    [["attack", "--model", M, "--dataset", D, "--method", "layered-pgd", "--target", "background"], "error: --target: not an option of --method layered-pgd (it is for fgsm, pgd, segpgd, cospgd, apgd)"],
    [["evaluate", "--model", M, "--dataset", D, "--steps", "3"], "error: --steps: needs --attack"],
    [["evaluate", "--model", D, "--dataset", D], `error: --model: ${D} is a dataset id; give a model id (m-…)`],
    [["dataset", "show", M], `error: <dataset-id>: ${M} is a model id; give a dataset id (ds-…)`],
    [["dataset", "create", "--source", "folder", "--train-path", dir, "--validation-fraction", "0.3"], "error: --validation-fraction: applies to --path (one folder split by fractions), not to --train-path/--validation-path/--test-path"],
    [["dataset", "create", "--source", "folder", "--path", file], `error: --path: not a folder (a file): ${file}`],
    [["dataset", "create", "--source", "folder", "--path", join(dir, "none")], `error: --path: no such folder: ${join(dir, "none")}`],
    [["run", "--preset", "demo", "--out", file], `error: --out: not a folder (a file): ${file}`],
    [["demo", "--out", join(file, "sub")], `error: --out: cannot be made: ${file} is a file`],
    [["enhance", "--model", M, "--dataset", D, "--out", file], `error: --out: not a folder (a file): ${file}`],
    [["predict", "--model", M, "--input", file, "--out", file], `error: --out: not a folder (a file): ${file}`],
    [["probe", "--model", M, "--input", file, "--out", file], `error: --out: not a folder (a file): ${file}`],
  ])("%j → refused before a worker starts", async (argv, expected) => {
    const { code, stdout, stderr } = await run(argv, noWorker);
    expect(stderr).toBe(`${expected}\n`);
    expect(stdout).toBe("");
    expect(code).toBe(2);
  });

  it("prints help on stdout with exit code 0", async () => {
    const { code, stdout, stderr } = await run(["train", "--help"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/--epochs <n> +training epochs \(default: \d+\)/);
    expect(stdout).toMatch(/Global Options:[\s\S]*--json/);
  });
});

describe("failures reaching the worker", () => {
  it("names a missing interpreter in one line, exit code 1", async () => {
    const { code, stdout, stderr } = await run(["info"], noWorker);
    // Progress (stderr is not a terminal here: plain lines) says what was being done, then the error.
    expect(stderr).toBe(
      "starting the worker...\nerror: worker interpreter not found: /nonexistent/python-for-cli-test (set ROBUSTSEG_PYTHON or run `npm run setup`)\n",
    );
    expect((await run(["--quiet", "info"], noWorker)).stderr).toBe(
      "error: worker interpreter not found: /nonexistent/python-for-cli-test (set ROBUSTSEG_PYTHON or run `npm run setup`)\n",
    );
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });

  it("report on a truncated results.json: one line naming the file, no worker", async () => {
    const runDir = join(dir, "cut-run");
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, "results.json"), '{"schema": "robustseg.results/v1", "spec": {');
    const { code, stdout, stderr } = await run(["report", runDir], noWorker);
    expect(stderr.startsWith(`error: ${join(runDir, "results.json")}: not valid JSON (`)).toBe(true);
    expect(stderr.endsWith("); rerun `robustseg run` with the same spec to write it again\n")).toBe(true);
    expect(stderr.split("\n")).toHaveLength(2);
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });

  it("adds the stack and causes with --verbose", async () => {
    const { code, stderr } = await run(["--verbose", "--quiet", "info"], noWorker);
    expect(code).toBe(1);
    expect(stderr.split("\n")[0]).toMatch(/^error: worker interpreter not found/);
    expect(stderr).toMatch(/WorkerStartError: worker interpreter not found[\s\S]*at /);
  });
});

describe("commands against a (fake) worker", () => {
  const env = () => ({ ROBUSTSEG_PYTHON: fakeWorkerPython(dir) });

  it("info --json prints the worker's description and nothing else", async () => {
    const { code, stdout, stderr } = await run(["info", "--json"], env());
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info).toMatchObject({ version: "fake", device: "cpu", connection: "spawned" });
    expect(info.backends).toEqual([
      {
        name: "unet",
        description: "fake U-Net",
        available: true,
        unavailableReason: "",
        architectures: [],
        encoders: [],
        defaults: { depth: 4, base_width: 64, upsampling: "bilinear" },
        packageVersion: "",
        known: true,
      },
    ]);
    expect(info.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("evaluate maps NOT_FOUND to a one-line message", async () => {
    const { code, stdout, stderr } = await run(["--quiet", "evaluate", "--model", "m-fedcba9876543210", "--dataset", "ds-0123456789abcdef"], env());
    expect(stderr).toBe("error: model m-fedcba9876543210 not found\n");
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });
});

describe("reportError", () => {
  const grpc = (code: status, details: string) => new WorkerError(code, details, "Train");

  it.each([
    [grpc(status.INVALID_ARGUMENT, "config.epochs: must be > 0, got -1"), "invalid argument: config.epochs: must be > 0, got -1"],
    [grpc(status.NOT_FOUND, "unknown model id m-x"), "not found: unknown model id m-x"],
    [grpc(status.NOT_FOUND, "model 'm-x' not found"), "model 'm-x' not found"],
    [grpc(status.UNAVAILABLE, "No connection established"), "the worker is unavailable (Train): No connection established"],
    [grpc(status.UNAUTHENTICATED, "bad token"), "the worker refused Train: bad token (check --token or ROBUSTSEG_TOKEN)"],
    [grpc(status.INTERNAL, "boom\nTraceback..."), "the worker failed in Train (INTERNAL): boom"],
    [grpc(status.RESOURCE_EXHAUSTED, "CUDA out of memory"), "the worker ran out of resources: CUDA out of memory"],
    [new WorkerExitedError("worker was killed by SIGKILL while in use", ["Traceback", "MemoryError"]), "worker was killed by SIGKILL while in use: MemoryError"],
    [new WorkerStartError("worker exited with code 3 before it was ready", ["a", "ImportError: torch", ""]), "worker exited with code 3 before it was ready: ImportError: torch"],
    [new WorkerExitedError("worker was killed by SIGKILL while in use", ["INFO training epoch 3"]), "worker was killed by SIGKILL while in use (--verbose shows the worker's log)"],
  ])("explains %s in one line", (error, expected) => {
    expect(reportError(error, false)).toEqual({ text: expected, exitCode: 1 });
  });

  it("gives the gRPC code, the full details and the stack with verbose", () => {
    const { text } = reportError(grpc(status.INTERNAL, "boom\nTraceback (most recent call last):"), true);
    expect(text).toMatch(/^the worker failed in Train \(INTERNAL\): boom\ngRPC status: INTERNAL \(13\) in Train\ndetails: boom\nTraceback/);
    expect(text).toMatch(/WorkerError: Train: INTERNAL/);
  });
});
