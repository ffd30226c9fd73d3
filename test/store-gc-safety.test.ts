// `robustseg store gc` cannot wipe a workspace by accident: a --runs path that is not there, or
// holds no run, is refused; so is a gc that finds no run folder at all (unless --force); a gc
// that would remove more than 10 artifacts lists them and wants --yes; and the run folders each
// run recorded in the workspace keep their artifacts whatever directory gc is started from.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordRunUsage } from "../ts/ops/store-maintenance.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";
import { tinySpecYaml } from "./fixtures/tiny-spec.js";

const repo = join(import.meta.dirname, "..");
const dir = scratchDir("robustseg-gc-safety-");
const workspace = join(dir, "workspace");
const project = join(dir, "project");
const elsewhere = join(dir, "elsewhere");
const notes = join(dir, "notes");
const runFolder = join(project, "runs", "exp");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace, device: "cpu" });
  for (const d of [runFolder, elsewhere, notes]) mkdirSync(d, { recursive: true });
  writeFileSync(join(notes, "results.json"), '{"mine": true}\n'); // a user's file that only looks like a run's
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(cwd: string, args: string[]) {
  const result = await execa("node", [join(repo, "bin", "robustseg.mjs"), "--worker", worker.address, ...args], {
    cwd,
    env: { ROBUSTSEG_TOKEN: worker.token ?? "" },
    reject: false,
    timeout: 180_000,
    stdin: "ignore",
  });
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

const datasets = () => readdirSync(join(workspace, "datasets")).sort();

describe("store gc refuses what would wipe the workspace by accident", () => {
  let all: string[] = [];
  let used = "";
  let recordedOnly = "";

  beforeAll(async () => {
    // 12 datasets (4 seeds, 3 splits each); the run folder's results.json names one of them.
    for (const seed of [1, 2, 3, 4]) {
      const made = await cli(dir, ["dataset", "create", "--tile-size", "16", "--train", "4", "--validation", "4", "--test", "4", "--seed", String(seed), "--json"]);
      expect(made.code).toBe(0);
    }
    all = datasets();
    expect(all).toHaveLength(12);
    [used, recordedOnly] = all as [string, string];
    writeFileSync(join(runFolder, "results.json"), JSON.stringify({ datasets: [{ role: "train", id: used }] }));
  });

  it("refuses a --runs path that does not exist, naming --runs, and removes nothing", async () => {
    const { code, stdout, stderr } = await cli(project, ["store", "gc", "--min-age", "0", "--runs", "runs/tiyn"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(`error: --runs: ${join(project, "runs", "tiyn")} does not exist`);
    expect(datasets()).toEqual(all);
  });

  it("refuses a --runs folder that holds no run (a user's results.json naming no artifact), and a directory with no run folder and none recorded", async () => {
    const noRun = await cli(project, ["store", "gc", "--min-age", "0", "--runs", notes]);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toBe(`error: --runs: no run folder in ${notes} names an artifact; gc would keep nothing for it: check the path, or pass --force`);
    const fromElsewhere = await cli(elsewhere, ["store", "gc", "--min-age", "0"]);
    expect(fromElsewhere.code).toBe(2);
    expect(fromElsewhere.stderr.split("\n")).toHaveLength(1);
    expect(fromElsewhere.stderr).toMatch(new RegExp(`^error: --runs: no run folder found under ${join(elsewhere, "runs")} and none recorded in the workspace;.*--force$`));
    expect(datasets()).toEqual(all);
  });

  it("lists more than 10 artifacts and refuses without --yes; --dry-run lists them and removes nothing", async () => {
    const refused = await cli(project, ["store", "gc", "--min-age", "0", "--quiet"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: would remove 11 artifacts: (ds-[0-9a-f]{16}, ){5}… \(6 more\); pass --yes to remove them$/);
    for (const id of all.filter((i) => i !== used)) expect(refused.stdout).toContain(`datasets/${id}`);
    expect(refused.stdout).not.toContain(`datasets/${used}`);
    expect(datasets()).toEqual(all);
    const dry = await cli(project, ["store", "gc", "--min-age", "0", "--dry-run", "--json"]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, overLimit: false, artifacts: 11 });
    expect(datasets()).toEqual(all);
  });

  it("keeps what a recorded run folder still lists when gc runs from another directory", async () => {
    // As the runner does after each stage; the folder lists only `used` now (a rerun dropped the other).
    const usage = await recordRunUsage(worker.client, runFolder, [used, recordedOnly]);
    expect(usage?.artifactIds).toEqual([used, recordedOnly].sort());
    const { code, stdout, stderr } = await cli(elsewhere, ["store", "gc", "--min-age", "0", "--yes", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.runFolders).toEqual([runFolder]);
    expect(result.artifacts).toBe(11);
    expect(datasets()).toEqual([used]);
  });

  it("forgets the record of a run folder that is gone, and then needs --force", async () => {
    rmSync(join(project, "runs"), { recursive: true });
    const refused = await cli(elsewhere, ["store", "gc", "--min-age", "0"]);
    expect(refused.code).toBe(2);
    expect(datasets()).toEqual([used]);
    const forced = await cli(elsewhere, ["store", "gc", "--min-age", "0", "--force", "--json"]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ forgottenRuns: 1, artifacts: 1, runFolders: [] });
    expect(datasets()).toEqual([]);
  });
});


describe("a run records its folder in the workspace", () => {
  it("and gc from another directory keeps every artifact the run used", async () => {
    writeFileSync(join(project, "spec.yaml"), tinySpecYaml("gc-safety"));
    const run = await cli(project, ["--quiet", "run", "spec.yaml", "--out", "runs/tiny", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as { datasets: { id: string }[]; models: { id: string }[] };
    const usedByRun = [...results.datasets.map((d) => d.id), ...results.models.map((m) => m.id)];
    const records = await worker.client.listRunUsage();
    expect(records.map((r) => r.runFolder)).toEqual([join(project, "runs", "tiny")]);
    expect(records[0]?.artifactIds).toEqual(expect.arrayContaining(usedByRun));
    const before = [...datasets(), ...readdirSync(join(workspace, "models"))].sort();
    const gc = await cli(elsewhere, ["store", "gc", "--min-age", "0", "--yes", "--json"]);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ runFolders: [join(project, "runs", "tiny")], artifacts: 0 });
    expect([...datasets(), ...readdirSync(join(workspace, "models"))].sort()).toEqual(before);
  });
});
