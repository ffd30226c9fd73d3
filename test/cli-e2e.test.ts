// The CLI as a user runs it: `node bin/robustseg.mjs ...` as a subprocess. One real worker is
// shared by the file (passed with --worker and the token in ROBUSTSEG_TOKEN); one test spawns its
// own through the CLI. Tiny data: 8 train tiles of 16×16, one epoch.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { runCliProcess } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-cli-");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "shared-workspace"), device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const robustseg = (args: string[], env: Record<string, string> = {}) => runCliProcess(args, { cwd: dir, env });

/** Against the shared worker. */
const viaWorker = (args: string[]) => robustseg(["--worker", worker.address, ...args], { ROBUSTSEG_TOKEN: worker.token ?? "" });

describe("robustseg dataset create → train → evaluate (--json)", () => {
  let ids: Record<string, string>;
  let modelId: string;

  it("dataset create prints the dataset ids per split and class shares", async () => {
    const { code, stdout, stderr } = await viaWorker(["dataset", "create", "--tile-size", "16", "--train", "8", "--validation", "4", "--test", "4", "--seed", "3", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.reused).toBe(false);
    expect(result.datasets.map((d: { split: string }) => d.split)).toEqual(["train", "validation", "test"]);
    for (const d of result.datasets) {
      expect(d.classShares.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 9);
      expect(d.classNames[0]).toBe("background");
    }
    ids = Object.fromEntries(result.datasets.map((d: { split: string; id: string }) => [d.split, d.id]));
  });

  it("train prints the model id, the per-epoch table and the best epoch", async () => {
    const { code, stdout, stderr } = await viaWorker([
      "train", "--train", ids.train as string, "--validation", ids.validation as string,
      "--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-width", "4", "--no-augment", "--json",
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.reused).toBe(false);
    expect(result.params.training).toEqual({ epochs: 1, batchSize: 4, learningRate: expect.any(Number), seed: 0, augment: false });
    expect(result.model.bestEpoch).toBe(1);
    expect(result.model.epochs).toHaveLength(1);
    expect(result.model.epochs[0]).toMatchObject({ epoch: 1, best: true, trainLoss: expect.any(Number), validationLoss: expect.any(Number) });
    expect(result.model.epochs[0].validationPixelAccuracy).toBeGreaterThanOrEqual(0);
    modelId = result.model.id;
  });

  it("evaluate prints the metrics computed from the confusion matrix", async () => {
    const { code, stdout, stderr } = await viaWorker(["evaluate", "--model", modelId, "--dataset", ids.test as string, "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.numPixels).toBe(4 * 16 * 16);
    expect(result.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(result.numPixels);
    expect(result.metrics.numPixels).toBe(result.numPixels);
    expect(result.metrics.pixelAccuracy).toBeGreaterThanOrEqual(0);
    expect(result.metrics.pixelAccuracy).toBeLessThanOrEqual(1);
    expect(result.metrics.meanLoss).toBeGreaterThan(0);
    expect(result.metrics.perClass.map((c: { name: string }) => c.name)).toEqual(result.classNames);
  });

  it("evaluate and attack with --nproc 2 run on two torchrun processes and give one process's figures", async () => {
    const attack = ["--attack", "pgd", "--epsilon", "0.03", "--steps", "2", "--batch-size", "2"];
    const evaluate = (extra: string[]) => viaWorker(["evaluate", "--model", modelId, "--dataset", ids.test as string, ...attack, ...extra, "--json"]);
    const one = await evaluate([]);
    const two = await evaluate(["--nproc", "2", "--dist-backend", "gloo"]);
    expect([one.code, two.code, two.stderr]).toEqual([0, 0, ""]);
    const [a, b] = [JSON.parse(one.stdout), JSON.parse(two.stdout)];
    expect(b.confusion).toEqual(a.confusion);
    expect(b.metrics.meanLoss).toBeCloseTo(a.metrics.meanLoss, 10);

    const sharded = await viaWorker(["attack", "--model", modelId, "--dataset", ids.test as string, "--method", "pgd", "--epsilon", "0.03", "--steps", "2", "--nproc", "2", "--json"]);
    expect([sharded.code, sharded.stderr]).toEqual([0, ""]);
    const built = JSON.parse(sharded.stdout);
    expect(built.reused).toBe(false);
    expect(built.maxLinf).toBeLessThanOrEqual(0.03 + 1e-6);
    expect(built.dataset.numImages).toBe(4);

    const refused = await viaWorker(["evaluate", "--model", modelId, "--dataset", ids.test as string, "--nproc", "2", "--nnodes", "2"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--rdzv-endpoint: required with nnodes > 1/);
  });

  it("evaluate without --json prints a metrics table on stdout and, stderr not being a terminal, progress lines on stderr", async () => {
    const { code, stdout, stderr } = await viaWorker(["evaluate", "--model", modelId, "--dataset", ids.test as string]);
    expect(code).toBe(0);
    // Piped to a file, a command used to print nothing while it worked.
    expect(stderr).toMatch(/^evaluate: started/m);
    expect(stderr).toMatch(/^evaluate: done, \d+\.\d s$/m);
    expect(stderr).not.toMatch(/\x1b\[/); // no terminal control characters
    const quiet = await viaWorker(["evaluate", "--model", modelId, "--dataset", ids.test as string, "--quiet"]);
    expect(quiet.stderr).toBe("");
    expect(quiet.stdout).toBe(stdout);
    expect(stdout).toMatch(/^pixel accuracy +[01]\.\d{4}$/m);
    expect(stdout).toMatch(/^foreground accuracy +([01]\.\d{4}|n\/a)$/m);
    expect(stdout).toMatch(/^mIoU +[01]\.\d{4} /m);
    expect(stdout).toMatch(/^background +[01]\.\d{4} +[01]\.\d{4} +[01]\.\d{4}$/m);
  });

  it("a second dataset create reuses the artifacts", async () => {
    const { code, stdout } = await viaWorker(["dataset", "create", "--tile-size", "16", "--train", "8", "--validation", "4", "--test", "4", "--seed", "3", "--json"]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.reused).toBe(true);
    expect(Object.fromEntries(result.datasets.map((d: { split: string; id: string }) => [d.split, d.id]))).toEqual(ids);
  });
});

describe("robustseg info", () => {
  it("spawns its own worker when no --worker is given, and stops it", async () => {
    const { code, stdout, stderr } = await robustseg(["--workspace", join(dir, "own-workspace"), "--device", "cpu", "info", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info).toMatchObject({ connection: "spawned", device: "cpu", workspace: join(dir, "own-workspace") });
  });
});

describe("bad input: one line on stderr, non-zero exit code", () => {
  const oneLine = (stderr: string) => {
    expect(stderr.split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^error: /);
  };

  it("negative epochs", async () => {
    const { code, stdout, stderr } = await viaWorker(["train", "--train", "ds-0123456789abcdef", "--validation", "ds-fedcba9876543210", "--epochs", "-1"]);
    oneLine(stderr);
    expect(stderr).toBe("error: --epochs: must be a positive integer, got -1");
    expect(stdout).toBe("");
    expect(code).toBe(2);
  });

  it("tile size 0", async () => {
    const { code, stderr } = await viaWorker(["dataset", "create", "--tile-size", "0"]);
    oneLine(stderr);
    expect(stderr).toBe("error: --tile-size: must be a positive integer, got 0");
    expect(code).toBe(2);
  });

  it("an unknown model id", async () => {
    const { code, stdout, stderr } = await viaWorker(["evaluate", "--model", "m-0000000000000000", "--dataset", "ds-0000000000000000", "--json"]);
    oneLine(stderr);
    expect(stderr).toMatch(/^error: .*m-0000000000000000.*not found/);
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });

  it("a worker interpreter that does not exist", async () => {
    const missing = join(dir, "no", "python");
    const { code, stdout, stderr } = await robustseg(["--workspace", join(dir, "ws-missing"), "--quiet", "info"], { ROBUSTSEG_PYTHON: missing });
    oneLine(stderr);
    expect(stderr).toBe(`error: worker interpreter not found: ${missing} (set ROBUSTSEG_PYTHON or run \`npm run setup\`)`);
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });

  it("a wrong token for --worker", async () => {
    const { code, stderr } = await robustseg(["--worker", worker.address, "--token", "wrong", "info"]);
    oneLine(stderr);
    expect(stderr).toMatch(/^error: the worker refused GetInfo: .*\(check --token or ROBUSTSEG_TOKEN\)$/);
    expect(code).toBe(1);
  });
});
