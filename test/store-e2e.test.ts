// `robustseg store verify` and `store gc`, and integrity on load as a user meets it:
// a flipped byte in a model's weights gives one line naming the model and the file, not a loss
// of 5.96e23; the damaged artifact goes to quarantine/; gc keeps what a run refers to.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";

const repo = join(import.meta.dirname, "..");
const dir = scratchDir("robustseg-store-");
const workspace = join(dir, "workspace");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace, device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const result = await execa("node", [join(repo, "bin", "robustseg.mjs"), "--worker", worker.address, ...args], {
    cwd: dir,
    env: { ROBUSTSEG_TOKEN: worker.token ?? "" },
    reject: false,
    timeout: 180_000,
    stdin: "ignore",
  });
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

function flipBytes(file: string): void {
  const raw = readFileSync(file);
  for (let i = 0; i < 64; i++) raw[raw.length - 1 - 3 * i] = (raw[raw.length - 1 - 3 * i] as number) ^ 0xff;
  writeFileSync(file, raw);
}

describe("store verify, store gc and integrity on load", () => {
  let ids: { train: string; validation: string; test: string; model: string; other: string };

  beforeAll(async () => {
    const data = await cli(["dataset", "create", "--tile-size", "16", "--train", "8", "--validation", "4", "--test", "4", "--seed", "4", "--json"]);
    expect(data.code).toBe(0);
    const [train, validation, test] = (JSON.parse(data.stdout) as { datasets: { id: string }[] }).datasets.map((d) => d.id) as [string, string, string];
    const trained = await cli(["train", "--train", train, "--validation", validation, "--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-width", "4", "--json"]);
    expect(trained.code).toBe(0);
    const model = (JSON.parse(trained.stdout) as { model: { id: string } }).model.id;
    const other = await cli(["dataset", "create", "--tile-size", "16", "--train", "4", "--validation", "0", "--test", "0", "--seed", "5", "--json"]);
    expect(other.code).toBe(0);
    ids = { train, validation, test, model, other: (JSON.parse(other.stdout) as { datasets: { id: string }[] }).datasets[0]?.id as string };
    // A run folder that refers to the model and its training set (as results.json does).
    mkdirSync(join(dir, "runs", "exp"), { recursive: true });
    writeFileSync(join(dir, "runs", "exp", "results.json"), JSON.stringify({ models: [{ name: "M1", id: model }], datasets: [{ role: "train", id: train }] }));
  });

  it("verify finds every artifact intact", async () => {
    const { code, stdout, stderr } = await cli(["store", "verify", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ checked: 5, corrupt: 0, quarantined: [] });
  });

  it("gc --dry-run lists what no run refers to and keeps the model's parents", async () => {
    const { code, stdout } = await cli(["store", "gc", "--dry-run", "--min-age", "0", "--json"]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.dryRun).toBe(true);
    const paths = (result.removed as { kind: string; path: string }[]).filter((e) => e.kind === "dataset").map((e) => e.path).sort();
    expect(paths).toEqual([`datasets/${ids.other}`, `datasets/${ids.test}`].sort());
    expect(readdirSync(join(workspace, "datasets")).sort()).toContain(ids.other);
  });

  it("a flipped byte in the weights: evaluate fails in one line naming the model and the file, and it is quarantined", async () => {
    flipBytes(join(workspace, "models", ids.model, "weights.safetensors"));
    const { code, stdout, stderr } = await cli(["evaluate", "--model", ids.model, "--dataset", ids.test, "--json"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.split("\n")).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^error: cannot do that now: model ${ids.model} is corrupt: weights.safetensors: sha256 differs`));
    expect(stderr).toMatch(/moved to .*quarantine/);
    expect(readdirSync(join(workspace, "quarantine")).some((e) => e.startsWith(ids.model))).toBe(true);
  });

  it("verify reports a corrupt meta.json, exits 1 and quarantines it", async () => {
    writeFileSync(join(workspace, "datasets", ids.test, "meta.json"), "{ truncated");
    const { code, stdout, stderr } = await cli(["store", "verify", "--quiet"]);
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`dataset +${ids.test} +meta.json +\\d+ bytes, \\d+ were written \\(truncated or overwritten\\)`));
    expect(stderr).toBe(`error: 1 corrupt artifact: ${ids.test} (meta.json); moved to quarantine/`);
    const again = await cli(["store", "verify", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).quarantined).toHaveLength(2);
  });

  it("gc removes the unreferenced artifacts (the quarantined model no longer keeps its validation set) and the quarantine", async () => {
    const { code, stdout } = await cli(["store", "gc", "--min-age", "0", "--json"]);
    expect(code).toBe(0);
    const kinds = new Set((JSON.parse(stdout).removed as { kind: string }[]).map((e) => e.kind));
    expect(kinds).toEqual(new Set(["dataset", "quarantine", "lock"]));
    expect(readdirSync(join(workspace, "datasets"))).toEqual([ids.train]);
    expect(readdirSync(join(workspace, "quarantine"))).toEqual([]);
    const gone = await cli(["dataset", "show", ids.other]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(new RegExp(`dataset ${ids.other} not found`));
  });
});
