// Concurrency suite: four evaluations and two trainings at once on one worker, and two
// experiment runs at once on one workspace (two CLIs, two workers, shared artifacts and locks).
// Every result must equal the one the same request gives when run alone; the workspace must end
// with each artifact made once and nothing partial.
//
// npm run test:concurrency
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type SupervisedWorker } from "../../ts/worker/supervisor.js";
import { comparable, reportSuite, runCli, runFolderProblems, workspaceProblems } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "robustseg-concurrency-"));
const started = performance.now();
const workers: SupervisedWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function worker(name: string): Promise<SupervisedWorker> {
  const w = await spawnWorker({ workspace: join(dir, name), device: "cpu" });
  workers.push(w);
  return w;
}

function via(w: SupervisedWorker, args: string[]) {
  return runCli(["--worker", w.address, "--json", ...args], { cwd: dir, env: { ROBUSTSEG_TOKEN: w.token ?? "" } });
}

async function json(w: SupervisedWorker, args: string[]): Promise<Record<string, unknown>> {
  const r = await via(w, args);
  if (r.code !== 0) throw new Error(`robustseg ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** What one worker is asked: the data, a model, then 4 evaluations and 2 trainings. */
async function prepare(w: SupervisedWorker) {
  const data = await json(w, ["dataset", "create", "--tile-size", "24", "--train", "16", "--validation", "4", "--test", "8", "--seed", "2"]);
  const [train, validation, test] = (data.datasets as { id: string }[]).map((d) => d.id) as [string, string, string];
  const model = ((await json(w, ["train", "--train", train, "--validation", validation, "--epochs", "2", "--batch-size", "4", "--depth", "2", "--base-width", "6"])).model as { id: string }).id;
  const evaluations = [
    ["evaluate", "--model", model, "--dataset", test],
    ["evaluate", "--model", model, "--dataset", test, "--attack", "pgd", "--epsilon", "0.02", "--steps", "3", "--target", "background"],
    ["evaluate", "--model", model, "--dataset", test, "--attack", "fgsm", "--epsilon", "0.03", "--target", "untargeted"],
    ["evaluate", "--model", model, "--dataset", train, "--attack", "segpgd", "--epsilon", "0.02", "--steps", "2", "--target", "untargeted"],
  ];
  const trainings = [1, 2].map((seed) => ["train", "--train", train, "--validation", validation, "--epochs", "3", "--batch-size", "4", "--depth", "2", "--base-width", "8", "--seed", String(seed)]);
  return { evaluations, trainings };
}

/** An evaluation's or training's result without what may differ between two runs of it. */
function essenceOf(result: Record<string, unknown>, workspace: string): unknown {
  const model = result.model as { id: string } | undefined;
  if (model) return { ...(comparable(result) as object), weights: sha256(join(workspace, "models", model.id, "weights.safetensors")) };
  return comparable(result);
}

describe("concurrency", () => {
  let serial: unknown[];
  let concurrent: unknown[];

  beforeAll(async () => {
    // Alone, one after another, on one worker.
    const a = await worker("ws-serial");
    const jobsA = await prepare(a);
    serial = [];
    for (const args of [...jobsA.evaluations, ...jobsA.trainings]) serial.push(essenceOf(await json(a, args), join(dir, "ws-serial")));
    // All six at once on another worker (its own workspace, the same data and model).
    const b = await worker("ws-concurrent");
    const jobsB = await prepare(b);
    concurrent = await Promise.all([...jobsB.evaluations, ...jobsB.trainings].map(async (args) => essenceOf(await json(b, args), join(dir, "ws-concurrent"))));
  });

  it("4 evaluations and 2 trainings at once on one worker give the results each gives alone", () => {
    expect(concurrent).toHaveLength(6);
    expect(concurrent).toEqual(serial);
    expect(workspaceProblems(join(dir, "ws-concurrent"))).toEqual([]);
  });

  it("two runs at once on one workspace each equal a run alone, and every artifact is made once", async () => {
    const spec = join(dir, "spec.yaml");
    writeFileSync(
      spec,
      `name: two
data: { source: synthetic-histology, tileSize: 24, train: 12, validation: 4, test: 6, seed: 5 }
model: { architecture: unet, depth: 2, baseWidth: 6 }
training: { epochs: 3, batchSize: 4, learningRate: 0.01, seed: 0, augment: true }
methodOne: { epsilon: 0.02, steps: 2 }
methodTwo: { epsilon: 0.02, strategy: greedy }
evaluation: { attack: { method: pgd, epsilon: 0.02, steps: 2, target: background } }
`,
    );
    // --verbose forwards each worker's log: it says which worker trained each model.
    const run = (out: string, workspace: string) =>
      runCli(["run", spec, "--out", join(dir, out), "--workspace", join(dir, workspace), "--device", "cpu", "--json", "--verbose"], { cwd: dir });
    const alone = await run("alone", "ws-alone");
    expect(alone.code).toBe(0);
    const [first, second] = await Promise.all([run("first", "ws-shared"), run("second", "ws-shared")]);
    for (const r of [first, second]) {
      expect(r.stderr).not.toMatch(/^error:/m);
      expect(r.code).toBe(0);
      expect(comparable(JSON.parse(r.stdout))).toEqual(comparable(JSON.parse(alone.stdout)));
    }
    const models = (JSON.parse(alone.stdout) as { models: { id: string }[] }).models.map((m) => m.id);
    for (const id of models) {
      const trainedBy = [first, second].filter((r) => new RegExp(`model ${id} trained in`).test(r.stderr));
      expect(trainedBy).toHaveLength(1); // the other worker waited on the lock and reused it
    }
    for (const out of ["first", "second"]) expect(runFolderProblems(join(dir, out))).toEqual([]);
    expect(workspaceProblems(join(dir, "ws-shared"))).toEqual([]);
    for (const kind of ["datasets", "models"]) {
      expect(readdirSync(join(dir, "ws-shared", kind)).sort()).toEqual(readdirSync(join(dir, "ws-alone", kind)).sort());
    }
    reportSuite({ suite: "concurrency", calls: 6, runs: 2, seconds: Math.round((performance.now() - started) / 1000) });
  });
});
