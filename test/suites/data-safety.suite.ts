// Data-safety suite: every command that writes is pointed at targets a user did not mean
// (devices, FIFOs, symlinks to devices, its own input folder, a folder inside its input, a
// foreign non-empty folder, another spec's run folder, a typo'd gc path) and must refuse before
// it writes; and at the targets a user did mean, it must write there and nowhere else. The
// whole user tree is hashed before and after each case (type, mode, size, sha256 of each file,
// the target of each link): nothing outside the worker's workspace and the case's named output
// may change by a single byte. docs/reliability.md "Data safety" has the rules and the figures.
//
// npm run test:data-safety
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliCaptured, type CliRun } from "../fixtures/cli.js";
import { scratchDir } from "../fixtures/scripts.js";
import { tinySpecYaml } from "../fixtures/tiny-spec.js";
import { spawnWorker, type SupervisedWorker } from "../../ts/worker/supervisor.js";
import { reportSuite } from "./harness.js";
import { changedOutside, deviceStates, LOOKALIKE_TEMPORARY, snapshot, writeUserTree } from "./output-targets.js";

const dir = scratchDir("robustseg-safety-");
const home = join(dir, "home");
const workspace = join(dir, "workspace");
let worker: SupervisedWorker;
let modelId = "";
let datasetId = "";

const tally = { cases: 0, refused: 0, written: 0, pathsChangedOutside: 0 };
const findings: string[] = [];


const cli = (argv: readonly string[]) => runCliCaptured(["--quiet", ...argv], { worker });

interface SafetyCase {
  name: string;
  argv: () => string[];
  /** Paths (relative to home) the case is meant to write; everything else must stay byte-equal. */
  outputs?: readonly string[];
  /** Refused (exit 1 or 2, one error line naming `names`), or meant to succeed. */
  expect: { refused: true; names: string } | { refused: false };
}

async function tryCase(c: SafetyCase): Promise<string[]> {
  const problems: string[] = [];
  const before = snapshot(home);
  const devices = deviceStates();
  const r: CliRun = await cli(c.argv());
  const after = snapshot(home);
  const changed = changedOutside(before, after, c.outputs ?? []);
  tally.cases++;
  if (changed.length > 0) {
    tally.pathsChangedOutside += changed.length;
    problems.push(`changed outside its output: ${changed.join(", ")}`);
  }
  if (deviceStates() !== devices) problems.push(`a device node was replaced: ${deviceStates()}`);
  const lines = r.stderr.split("\n").filter(Boolean);
  if (c.expect.refused) {
    if (r.code === 0) problems.push("exit code 0 where a refusal was expected");
    else if (lines.length !== 1 || !lines[0]?.startsWith("error: ")) problems.push(`not one error line: ${JSON.stringify(r.stderr.slice(0, 300))}`);
    else if (!r.stderr.includes(c.expect.names)) problems.push(`the error does not name ${c.expect.names}: ${lines[0]}`);
    else tally.refused++;
  } else if (r.code !== 0) problems.push(`failed where it should succeed: ${lines[0] ?? r.code}`);
  else tally.written++;
  const found = problems.map((p) => `${c.name}: ${p}`);
  findings.push(...found);
  return found;
}

beforeAll(async () => {
  writeUserTree(home);
  writeFileSync(join(home, "spec.yaml"), tinySpecYaml("safety"));
  // A folder the user lets a run write into with --force: their own files in it must survive.
  mkdirSync(join(home, "forced"));
  writeFileSync(join(home, "forced", "mine.txt"), "keep me\n");
  writeFileSync(join(home, "forced", LOOKALIKE_TEMPORARY), "the user's own file\n");
  writeFileSync(join(home, "other-spec.yaml"), tinySpecYaml("another", 6));

  worker = await spawnWorker({ workspace, device: "cpu" });
  const created = await cli(["dataset", "create", "--source", "synthetic-histology", "--tile-size", "32", "--train", "8", "--validation", "4", "--test", "4", "--seed", "1", "--json"]);
  expect(created.code).toBe(0);
  const splits = JSON.parse(created.stdout) as { datasets: { split: string; id: string }[] };
  const split = (name: string) => splits.datasets.find((d) => d.split === name)?.id ?? "";
  datasetId = split("test");
  const trained = await cli(["train", "--train", split("train"), "--validation", split("validation"), "--epochs", "1", "--batch-size", "4", "--depth", "2", "--base-width", "4", "--json"]);
  expect(trained.code).toBe(0);
  modelId = (JSON.parse(trained.stdout) as { model: { id: string } }).model.id;
  // A finished run of another spec, for `run --out` into it.
  const other = await cli(["run", join(home, "other-spec.yaml"), "--out", join(home, "other-run")]);
  expect(other.code).toBe(0);
});

afterAll(async () => {
  await worker?.close();
  reportSuite({ suite: "data-safety", ...tally, findings });
  rmSync(dir, { recursive: true, force: true });
});

const at = (...parts: string[]) => join(home, ...parts);
const artifactCount = () => ["datasets", "models"].reduce((n, kind) => n + readdirSync(join(workspace, kind)).length, 0);

const REFUSALS: SafetyCase[] = [
  { name: "export to /dev/full", argv: () => ["export", modelId, "--format", "onnx", "--out", "/dev/full"], expect: { refused: true, names: "--out" } },
  { name: "export to /dev/null", argv: () => ["export", modelId, "--format", "safetensors", "--out", "/dev/null"], expect: { refused: true, names: "--out" } },
  { name: "export to a FIFO", argv: () => ["export", modelId, "--format", "onnx", "--out", at("fifo")], expect: { refused: true, names: "--out" } },
  { name: "export to a link to a device", argv: () => ["export", modelId, "--format", "torchscript", "--out", at("to-device")], expect: { refused: true, names: "--out" } },
  { name: "export to a looping link", argv: () => ["export", modelId, "--format", "onnx", "--out", at("loop-a")], expect: { refused: true, names: "--out" } },
  { name: "export into the workspace", argv: () => ["export", modelId, "--format", "onnx", "--out", join(workspace, "model.onnx")], expect: { refused: true, names: "--out" } },
  { name: "predict over its own input", argv: () => ["predict", "--model", modelId, "--input", at("images"), "--out", at("images")], expect: { refused: true, names: "--out" } },
  { name: "predict into a folder inside its input", argv: () => ["predict", "--model", modelId, "--input", at("images"), "--out", at("images", "masks")], expect: { refused: true, names: "--out" } },
  { name: "predict to a FIFO", argv: () => ["predict", "--model", modelId, "--input", at("images"), "--out", at("fifo")], expect: { refused: true, names: "--out" } },
  { name: "probe over its own input", argv: () => ["probe", "--model", modelId, "--input", at("images"), "--attack", "pgd", "--epsilon", "0.01", "--steps", "1", "--out", at("images")], expect: { refused: true, names: "--out" } },
  { name: "run into a folder of the user's files", argv: () => ["run", at("spec.yaml"), "--out", at("notes")], expect: { refused: true, names: "--out" } },
  { name: "run into another spec's run folder", argv: () => ["run", at("spec.yaml"), "--out", at("other-run")], expect: { refused: true, names: "--out" } },
  { name: "run into a FIFO", argv: () => ["run", at("spec.yaml"), "--out", at("fifo")], expect: { refused: true, names: "--out" } },
  { name: "report of a folder that is no run", argv: () => ["report", at("notes")], expect: { refused: true, names: "notes" } },
  { name: "enhance's record to a device", argv: () => ["enhance", "--model", modelId, "--dataset", datasetId, "--strategy", "greedy", "--out", "/dev/full"], expect: { refused: true, names: "--out" } },
  { name: "gc with a typo'd --runs", argv: () => ["store", "gc", "--min-age", "0", "--runs", at("runs-typo")], expect: { refused: true, names: "--runs" } },
  { name: "gc with no run folder below --runs", argv: () => ["store", "gc", "--min-age", "0", "--runs", at("notes")], expect: { refused: true, names: "--runs" } },
];

const WRITES: SafetyCase[] = [
  { name: "export to a new file", argv: () => ["export", modelId, "--format", "onnx", "--out", at("out", "model.onnx")], outputs: ["out"], expect: { refused: false } },
  { name: "predict into a new folder", argv: () => ["predict", "--model", modelId, "--input", at("images"), "--out", at("masks")], outputs: ["masks"], expect: { refused: false } },
  { name: "run into a new folder", argv: () => ["run", at("spec.yaml"), "--out", at("run")], outputs: ["run"], expect: { refused: false } },
  { name: "run again into its own folder (resume)", argv: () => ["run", at("spec.yaml"), "--out", at("run")], outputs: ["run"], expect: { refused: false } },
  { name: "report of a run folder", argv: () => ["report", at("run")], outputs: ["run"], expect: { refused: false } },
  { name: "run --force into a folder of the user's files", argv: () => ["run", at("spec.yaml"), "--out", at("forced"), "--force"], outputs: ["forced"], expect: { refused: false } },
];

describe("data safety: nothing outside the workspace and the named output changes", () => {
  it("every target a user did not mean is refused before anything is written", async () => {
    const artifactsBefore = artifactCount();
    const problems: string[] = [];
    for (const c of REFUSALS) problems.push(...(await tryCase(c)));
    expect(problems).toEqual([]);
    // The refused gc removed nothing.
    expect(artifactCount()).toBe(artifactsBefore);
  });

  it("every target a user meant is written, and nothing beside it", async () => {
    const problems: string[] = [];
    for (const c of WRITES) problems.push(...(await tryCase(c)));
    expect(problems).toEqual([]);
    expect(statSync(at("out", "model.onnx")).size).toBeGreaterThan(0);
    expect(readdirSync(at("masks")).filter((n) => n.endsWith(".png")).length).toBe(2);
    expect(readFileSync(at("notes", LOOKALIKE_TEMPORARY), "utf8")).toBe("the user's own file\n");
    // --force let the run write its files beside the user's, whose own files it left alone.
    expect(readFileSync(at("forced", "mine.txt"), "utf8")).toBe("keep me\n");
    expect(readFileSync(at("forced", LOOKALIKE_TEMPORARY), "utf8")).toBe("the user's own file\n");
    expect(statSync(at("forced", "results.json")).size).toBeGreaterThan(0);
  });
});
