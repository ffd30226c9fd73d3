// Fuzz suite, the CLI's half (the worker's half is python_worker/tests/suites/
// test_fuzz_contract.py): generated bad input must give a clear one-line error, a non-zero exit
// code, no stack trace, and leave a worker that still answers health.
//   - a corpus of corrupt files: PanNuke folds (.npy), folder data sets (PNG, classes.json),
//     artifacts (data.safetensors, weights.safetensors, meta.json), each error naming the file;
//   - fast-check over experiment specs: one field made wrong; the run must stop before any work
//     (nothing made on the worker, no run folder) naming the spec file and the field path;
//   - fast-check over command-line options: one option made wrong, or an id of the wrong kind;
//   - an output-target corpus: every command that writes pointed at a device, a FIFO, a link to a
//     device, a looping link, or (predict, probe) its own input folder: refused naming --out,
//     and the user's tree byte-equal afterwards (test/suites/output-targets.ts);
//   - an embedding-API corpus: spawnWorker, connectWorker and attackSpec called with one argument
//     of a wrong type or out of range (NaN, ±Infinity, a string where a list or number belongs):
//     a TypeError or RangeError of one line naming the argument, and nothing started or made
//     (the Python half: python_worker/tests/suites/test_fuzz_embedding.py).
//
// npm run test:fuzz   ROBUSTSEG_FUZZ_SEED (default 1) and ROBUSTSEG_FUZZ_RUNS (default 40 per
// property) choose the inputs.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliContext } from "../../ts/cli/context.js";
import { runCli } from "../../ts/cli/program.js";
import { AttackParamsError } from "../../ts/attacks/common.js";
import { attackSpec, type AttackParams } from "../../ts/attacks/registry.js";
import { connectWorker } from "../../ts/worker/remote.js";
import { spawnWorker, type SpawnWorkerOptions, type SupervisedWorker } from "../../ts/worker/supervisor.js";
import { scratchDir } from "../fixtures/scripts.js";
import { damageArtifact, META_MUTATIONS, SAFETENSORS_MUTATIONS, writeFoldCorpus, writeFolderCorpus } from "./corrupt-files.js";
import { reportSuite } from "./harness.js";
import { changedOutside, deviceStates, refusedTargets, snapshot, writeUserTree } from "./output-targets.js";

const SEED = Number(process.env.ROBUSTSEG_FUZZ_SEED ?? 1);
const RUNS = Number(process.env.ROBUSTSEG_FUZZ_RUNS ?? 40);
const dir = scratchDir("robustseg-fuzz-");
const workspace = join(dir, "workspace");
let worker: SupervisedWorker;
const tally: Record<string, number> = {};
const findings: string[] = [];

beforeAll(async () => {
  worker = await spawnWorker({ workspace, device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  reportSuite({ suite: "fuzz-cli", seed: SEED, inputs: tally, total: Object.values(tally).reduce((a, b) => a + b, 0), findings });
  rmSync(dir, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const context: CliContext = {
    io: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), progressStream: undefined, env: { ...process.env, ROBUSTSEG_TOKEN: worker.token ?? "" } },
    handleSignals: false,
  };
  const code = await runCli(["--worker", worker.address, "--quiet", ...argv], context);
  return { code, stdout, stderr };
}

/** The rule for every bad input: exit 1 or 2, one line on stderr ("error: ..."), no stack trace. */
function clearErrorProblems(what: string, r: { code: number; stdout: string; stderr: string }, names?: string): string[] {
  const lines = r.stderr.split("\n").filter(Boolean);
  const problems: string[] = [];
  if (r.code !== 1 && r.code !== 2) problems.push(`exit code ${r.code}`);
  if (lines.length !== 1 || !lines[0]?.startsWith("error: ")) problems.push(`stderr is not one error line: ${JSON.stringify(r.stderr.slice(0, 400))}`);
  if (/\n\s+at |Traceback|internal error|INTERNAL/.test(r.stderr)) problems.push("a stack trace or an internal error");
  if (names && !r.stderr.includes(names)) problems.push(`does not name ${names}`);
  if (problems.length === 0) return [];
  const finding = `${what}: ${problems.join("; ")}: ${lines[0] ?? ""}`;
  findings.push(finding);
  return [finding];
}

async function expectHealthy(): Promise<void> {
  const info = await worker.client.getInfo({ timeoutMs: 30_000 });
  expect(info.version).toBeTruthy();
}

const count = (kind: string, n = 1) => void (tally[kind] = (tally[kind] ?? 0) + n);

describe("corrupt files", () => {
  it("PanNuke folds with damaged .npy files", async () => {
    const cases = writeFoldCorpus(join(dir, "folds"), RUNS, SEED);
    const problems: string[] = [];
    for (const c of cases) {
      const r = await cli(["dataset", "create", "--source", "pannuke", "--train-fold", join(c.path, "Fold 1")]);
      problems.push(...clearErrorProblems(c.name, r, c.names));
    }
    count("npy", cases.length);
    expect(problems).toEqual([]);
    await expectHealthy();
  });

  it("folder data sets with damaged PNGs and classes.json", async () => {
    const cases = writeFolderCorpus(join(dir, "folders"), RUNS, SEED);
    const problems: string[] = [];
    for (const c of cases) {
      const r = await cli(["dataset", "create", "--source", "folder", "--path", c.path, "--validation-fraction", "0", "--test-fraction", "0"]);
      problems.push(...clearErrorProblems(c.name, r, c.names));
    }
    count("png", cases.length);
    expect(problems).toEqual([]);
    await expectHealthy();
  });

  it("artifacts with damaged safetensors and meta.json files", async () => {
    const created = await cli(["--json", "dataset", "create", "--tile-size", "16", "--train", "4", "--validation", "2", "--test", "2", "--seed", "9"]);
    expect(created.code).toBe(0);
    const [train, validation, test] = (JSON.parse(created.stdout) as { datasets: { id: string }[] }).datasets.map((d) => d.id) as [string, string, string];
    const trained = await cli(["--json", "train", "--train", train, "--validation", validation, "--epochs", "1", "--batch-size", "2", "--depth", "1", "--base-width", "2"]);
    expect(trained.code).toBe(0);
    const model = (JSON.parse(trained.stdout) as { model: { id: string } }).model.id;
    // Pristine copies to restore before each case (a damaged artifact is quarantined).
    const pristine = join(dir, "pristine");
    cpSync(workspace, pristine, { recursive: true });
    const restore = () => {
      for (const sub of ["datasets", "models"]) {
        rmSync(join(workspace, sub), { recursive: true, force: true });
        cpSync(join(pristine, sub), join(workspace, sub), { recursive: true });
      }
    };
    const targets = [
      { kind: "dataset", id: test, file: "data.safetensors", mutations: SAFETENSORS_MUTATIONS },
      { kind: "model", id: model, file: "weights.safetensors", mutations: SAFETENSORS_MUTATIONS },
      { kind: "dataset", id: test, file: "meta.json", mutations: META_MUTATIONS },
      { kind: "model", id: model, file: "meta.json", mutations: META_MUTATIONS },
    ] as const;
    const cases = fc.sample(fc.record({ t: fc.nat(targets.length - 1), m: fc.nat(15), r: fc.double({ min: 0.05, max: 0.95, noNaN: true }), fix: fc.boolean() }), { numRuns: RUNS, seed: SEED });
    const problems: string[] = [];
    for (const [k, c] of cases.entries()) {
      restore();
      const t = targets[k < targets.length * 4 ? k % targets.length : c.t] as (typeof targets)[number];
      const m = k < targets.length * 4 ? Math.floor(k / targets.length) : c.m;
      const what = damageArtifact(join(workspace, `${t.kind}s`, t.id), t.file, t.mutations as never, m, c.r, c.fix);
      const r = await cli(["evaluate", "--model", model, "--dataset", test]);
      const found = clearErrorProblems(`${t.kind} ${what}`, r, t.id);
      // Named once: the next request for it rebuilds (here: the artifact is gone from the store).
      if (found.length === 0 && !readdirSync(join(workspace, "quarantine")).some((q) => q.startsWith(t.id))) found.push(`${t.kind} ${what}: not quarantined`);
      problems.push(...found);
    }
    count("artifact", cases.length);
    expect(problems).toEqual([]);
    await expectHealthy();
  });
});

// ---- fast-check over experiment specs and command-line options ----

/** A small valid spec; each case makes one field wrong. */
const VALID_SPEC = {
  name: "fuzz",
  data: { source: "synthetic-histology", tileSize: 16, train: 4, validation: 2, test: 2, seed: 1 },
  model: { depth: 1, baseWidth: 2 },
  training: { epochs: 1, batchSize: 2, learningRate: 0.01, seed: 0 },
  methodOne: { epsilon: 0.02, steps: 1 },
  methodTwo: { epsilon: 0.02, strategy: "greedy" },
  evaluation: { attack: { method: "pgd", epsilon: 0.02, steps: 1, target: "background" } },
};

const word = fc.stringMatching(/^[a-z][a-z0-9]{2,10}$/);
const notPositiveInt = fc.oneof(fc.integer({ min: -1000, max: 0 }), fc.double({ min: 0.1, max: 99.9, noNaN: true }).filter((x) => !Number.isInteger(x)), word);
const notPositiveNumber = fc.oneof(fc.double({ min: -10, max: 0, noNaN: true }), word, fc.constant(null));

/** [field path, bad values]: what a spec field must not be. */
const SPEC_FIELDS: [string, fc.Arbitrary<unknown>][] = [
  ["data.source", word.filter((w) => !["kandinsky", "pannuke", "folder"].includes(w))],
  ["data.tileSize", fc.oneof(fc.integer({ min: -64, max: 7 }), word)],
  ["data.train", fc.oneof(fc.integer({ min: -100, max: 0 }), word)],
  ["model.depth", fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: 8, max: 40 }), word)],
  ["model.baseWidth", notPositiveInt],
  ["training.epochs", notPositiveInt],
  ["training.batchSize", notPositiveInt],
  ["training.learningRate", notPositiveNumber],
  ["methodOne.epsilon", notPositiveNumber],
  ["methodOne.steps", notPositiveInt],
  ["methodTwo.strategy", word.filter((w) => !["greedy", "exhaustive"].includes(w))],
  ["evaluation.attack.method", word.filter((w) => !["fgsm", "pgd", "segpgd", "cospgd"].includes(w))],
  ["evaluation.attack.target", word.filter((w) => !["background", "untargeted", "neoplastic", "inflammatory", "connective", "dead", "epithelial"].includes(w))],
  ["evaluation.attack.epsilon", notPositiveNumber],
];

function withField(spec: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(spec);
  const keys = path.split(".");
  let at = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys.at(-1) as string] = value;
  return copy;
}

describe("fast-check over specs and options", () => {
  it("a spec with one field wrong stops before any work, naming the spec file and the field path", async () => {
    const cases = fc.sample(
      fc.oneof(
        { weight: 6, arbitrary: fc.nat(SPEC_FIELDS.length - 1).chain((i) => (SPEC_FIELDS[i]?.[1] as fc.Arbitrary<unknown>).map((v) => ({ field: SPEC_FIELDS[i]?.[0] as string, value: v as unknown, names: SPEC_FIELDS[i]?.[0] as string }))) },
        // A key no block has: named under its block.
        { weight: 1, arbitrary: word.map((w) => ({ field: `training.${w}x`, value: 1 as unknown, names: `training: unknown field ${w}x` })) },
      ),
      { numRuns: RUNS, seed: SEED },
    );
    const made = () => (existsSync(join(workspace, "datasets")) ? readdirSync(join(workspace, "datasets")).length : 0);
    const before = made();
    const problems: string[] = [];
    for (const [k, c] of cases.entries()) {
      const file = join(dir, "specs", `spec-${k}.json`);
      mkdirSync(join(dir, "specs"), { recursive: true });
      writeFileSync(file, JSON.stringify(withField(VALID_SPEC, c.field, c.value)));
      const out = join(dir, "specs", `run-${k}`);
      const r = await cli(["run", file, "--out", out]);
      const what = `spec ${c.field} = ${JSON.stringify(c.value)}`;
      const found = clearErrorProblems(what, r, `${file}: ${c.names}`);
      if (existsSync(out)) {
        found.push(`${what}: a run folder was made`);
        findings.push(`${what}: a run folder was made`);
      }
      problems.push(...found);
    }
    count("spec", cases.length);
    expect(problems).toEqual([]);
    expect(made()).toBe(before); // nothing made on the worker
    await expectHealthy();
  });

  it("a command with one option wrong, or an id of the wrong kind, is refused naming the option", async () => {
    const M = "m-0123456789abcdef";
    const D = "ds-0123456789abcdef";
    const bases: Record<string, string[]> = {
      train: ["train", "--train", D, "--validation", D],
      evaluate: ["evaluate", "--model", M, "--dataset", D],
      attack: ["attack", "--model", M, "--dataset", D],
      create: ["dataset", "create"],
    };
    const asText = (a: fc.Arbitrary<unknown>) => a.map((v) => (v === null ? "" : String(v)));
    const OPTIONS: [string, string, fc.Arbitrary<string>][] = [
      ["train", "--epochs", asText(notPositiveInt)],
      ["train", "--batch-size", asText(notPositiveInt)],
      ["train", "--lr", asText(notPositiveNumber)],
      ["train", "--backend", word.filter((w) => !["unet", "smp", "monai"].includes(w))],
      ["train", "--train", fc.constantFrom(M, "ds-xyz", "m-", "../ds-0123456789abcdef")],
      ["evaluate", "--batch-size", asText(notPositiveInt)],
      ["evaluate", "--model", fc.constantFrom(D, "model", "m-012345")],
      ["evaluate", "--dataset", fc.constantFrom(M, "ds-0123456789abcdeg", "/etc/passwd")],
      ["evaluate", "--attack", word.filter((w) => !["fgsm", "pgd", "segpgd", "cospgd"].includes(w))],
      ["attack", "--epsilon", asText(notPositiveNumber)],
      ["attack", "--steps", asText(notPositiveInt)],
      ["attack", "--method", word.filter((w) => !["fgsm", "pgd", "segpgd", "cospgd"].includes(w))],
      ["create", "--tile-size", asText(fc.oneof(fc.integer({ min: -64, max: 0 }), word))],
      ["create", "--source", word.filter((w) => !["kandinsky", "pannuke", "folder"].includes(w))],
    ];
    const cases = fc.sample(fc.nat(OPTIONS.length - 1).chain((i) => (OPTIONS[i]?.[2] as fc.Arbitrary<string>).map((v) => ({ i, v }))), { numRuns: RUNS, seed: SEED });
    const problems: string[] = [];
    for (const { i, v } of cases) {
      const [command, flag] = OPTIONS[i] as [string, string, unknown];
      const base = bases[command] as string[];
      const at = base.indexOf(flag);
      const argv = at >= 0 ? base.map((x, j) => (j === at + 1 ? v : x)) : [...base, flag, v];
      const found = clearErrorProblems(`${command} ${flag} ${JSON.stringify(v)}`, await cli(argv), `${flag}`);
      problems.push(...found);
    }
    count("option", cases.length);
    expect(problems).toEqual([]);
    await expectHealthy();
  });
});

// ---- output targets: every command that writes, pointed where a user did not mean ----

describe("output targets", () => {
  it("a device, FIFO, link to a device, looping link or the input folder as --out is refused, and nothing changes", async () => {
    const home = join(dir, "home");
    writeUserTree(home);
    const created = await cli(["--json", "dataset", "create", "--tile-size", "16", "--train", "4", "--validation", "2", "--test", "2", "--seed", "11"]);
    expect(created.code).toBe(0);
    const [train, validation, test] = (JSON.parse(created.stdout) as { datasets: { id: string }[] }).datasets.map((d) => d.id) as [string, string, string];
    const trained = await cli(["--json", "train", "--train", train, "--validation", validation, "--epochs", "1", "--batch-size", "2", "--depth", "1", "--base-width", "2"]);
    expect(trained.code).toBe(0);
    const model = (JSON.parse(trained.stdout) as { model: { id: string } }).model.id;
    const images = join(home, "images");
    const commands: { readsImages: boolean; argv: (out: string) => string[] }[] = [
      { readsImages: false, argv: (out) => ["export", model, "--format", "onnx", "--out", out] },
      { readsImages: false, argv: (out) => ["export", model, "--format", "torchscript", "--out", out] },
      { readsImages: false, argv: (out) => ["export", model, "--format", "safetensors", "--out", out] },
      { readsImages: true, argv: (out) => ["predict", "--model", model, "--input", images, "--out", out] },
      { readsImages: true, argv: (out) => ["probe", "--model", model, "--input", images, "--attack", "fgsm", "--epsilon", "0.01", "--out", out] },
      { readsImages: false, argv: (out) => ["enhance", "--model", model, "--dataset", test, "--strategy", "greedy", "--out", out] },
    ];
    const targets = refusedTargets(home);
    // Every command with every target that is wrong for it once, then random such pairs up to RUNS.
    const pairs = commands.flatMap((command, c) => targets.flatMap((target, t) => (target.ofInput && !command.readsImages ? [] : [{ c, t }])));
    const extra = fc.sample(fc.constantFrom(...pairs), { numRuns: Math.max(0, RUNS - pairs.length), seed: SEED });
    const problems: string[] = [];
    for (const { c, t } of [...pairs, ...extra]) {
      const target = targets[t] as { kind: string; path: string };
      const argv = commands[c]?.argv(target.path) ?? [];
      const what = `${argv[0]} --out ${target.kind}`;
      const before = snapshot(home);
      const devices = deviceStates();
      const r = await cli(argv);
      const changed = changedOutside(before, snapshot(home));
      const damage = [
        ...(changed.length > 0 ? [`${what}: changed ${changed.join(", ")}`] : []),
        ...(deviceStates() !== devices ? [`${what}: a device node was replaced`] : []),
      ];
      findings.push(...damage);
      problems.push(...clearErrorProblems(what, r, "--out"), ...damage);
    }
    count("output-target", pairs.length + extra.length);
    expect(problems).toEqual([]);
    await expectHealthy();
  });
});

// ---- the embedding API: arguments of a wrong type or out of range ----

/** Values no option of a given kind takes: non-finite numbers, strings for numbers, and so on. */
const badNumber = fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 0, "10", null, [], {});
const badString = fc.constantFrom<unknown>("", 0, 17, true, [], {}, null);
const badPathList = fc.constantFrom<unknown>(5, [1], [""], ["/x", 2], {}, true, [null]);
const badFlag = fc.constantFrom<unknown>("yes", 1, 0, "true", [], {});
const badFunction = fc.constantFrom<unknown>("log", 1, {}, []);

/** [option, bad values]: one option of spawnWorker made wrong; the rest valid. */
const SPAWN_OPTIONS: [keyof SpawnWorkerOptions, fc.Arbitrary<unknown>][] = [
  ["workspace", badString],
  ["device", fc.constantFrom<unknown>("gpu", "CPU", "cuda:", "cuda:x", "", 3, null)],
  ["python", badString],
  ["token", fc.constantFrom<unknown>("", 17, [], {})],
  ["startTimeoutMs", badNumber],
  ["stderrLines", fc.constantFrom<unknown>(-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, "7")],
  ["onStderrLine", badFunction],
  ["signal", fc.constantFrom<unknown>({}, "abort", 1)],
  ["dataRoots", badPathList],
  ["readOnly", badFlag],
  ["env", fc.constantFrom<unknown>("PATH=/bin", 1, [])],
];

const CONNECT_OPTIONS: [string, fc.Arbitrary<unknown>][] = [
  ["address", badString],
  ["timeoutMs", badNumber],
  ["token", fc.constantFrom<unknown>("", 1234, [], {})],
];

const ATTACK_NUMBERS: [string, fc.Arbitrary<unknown>][] = [
  ["epsilon", fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)],
  ["stepSize", fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY)],
  ["steps", fc.constantFrom<unknown>(Number.NaN, 2.5, 2 ** 31, Number.POSITIVE_INFINITY)],
  ["seed", fc.constantFrom<unknown>(-1, 0.5, Number.NaN)],
];

describe("the embedding API", () => {
  /** The rule for every wrong argument: a TypeError or RangeError, one line, naming the function and the argument. */
  function argumentErrorProblems(what: string, error: unknown, prefix: string, types: readonly (new (...a: never[]) => Error)[] = [TypeError, RangeError]): string[] {
    const problems: string[] = [];
    if (!(error instanceof Error) || !types.some((t) => error instanceof t)) problems.push(`not a ${types.map((t) => t.name).join(" or ")}: ${String(error)}`);
    else {
      if (error.message.includes("\n")) problems.push("more than one line");
      if (!error.message.startsWith(prefix)) problems.push(`does not start with ${JSON.stringify(prefix)}: ${error.message}`);
    }
    const found = problems.map((p) => `${what}: ${p}`);
    findings.push(...found);
    return found;
  }

  it("spawnWorker and connectWorker refuse one wrong option by name, starting and making nothing", async () => {
    const never = join(dir, "never-made-workspace");
    const spawnCases = fc.sample(fc.nat(SPAWN_OPTIONS.length - 1).chain((i) => (SPAWN_OPTIONS[i]?.[1] as fc.Arbitrary<unknown>).map((v) => ({ key: SPAWN_OPTIONS[i]?.[0] as string, v }))), { numRuns: RUNS, seed: SEED });
    const problems: string[] = [];
    for (const { key, v } of spawnCases) {
      const options = { workspace: never, python: "/nonexistent/python", [key]: v } as unknown as SpawnWorkerOptions;
      const error = await spawnWorker(options).then(
        async (w) => {
          await w.close();
          return new Error("started a worker");
        },
        (e: unknown) => e,
      );
      // The workspace option itself may name a folder to make; any other case must not make it.
      problems.push(...argumentErrorProblems(`spawnWorker ${key} = ${String(v)}`, error, `spawnWorker: ${key}`));
      if (key !== "workspace" && existsSync(never)) problems.push(`spawnWorker ${key} = ${String(v)}: made the workspace`);
    }
    const connectCases = fc.sample(fc.nat(CONNECT_OPTIONS.length - 1).chain((i) => (CONNECT_OPTIONS[i]?.[1] as fc.Arbitrary<unknown>).map((v) => ({ key: CONNECT_OPTIONS[i]?.[0] as string, v }))), { numRuns: RUNS, seed: SEED });
    for (const { key, v } of connectCases) {
      const error = await connectWorker({ address: "127.0.0.1:1", [key]: v } as never).then(
        () => new Error("connected"),
        (e: unknown) => e,
      );
      problems.push(...argumentErrorProblems(`connectWorker ${key} = ${String(v)}`, error, `connectWorker: ${key}`));
    }
    count("embedding-api", spawnCases.length + connectCases.length);
    expect(problems).toEqual([]);
  });

  it("attackSpec refuses a non-finite or fractional number by name instead of sending null", () => {
    const cases = fc.sample(fc.nat(ATTACK_NUMBERS.length - 1).chain((i) => (ATTACK_NUMBERS[i]?.[1] as fc.Arbitrary<unknown>).map((v) => ({ key: ATTACK_NUMBERS[i]?.[0] as string, v }))), { numRuns: RUNS, seed: SEED });
    const problems: string[] = [];
    for (const { key, v } of cases) {
      const params = { method: "pgd", epsilon: 0.01, steps: 2, target: "untargeted", [key]: v } as unknown as AttackParams;
      let error: unknown;
      try {
        attackSpec(params, ["background", "nucleus"]);
      } catch (e) {
        error = e;
      }
      problems.push(...argumentErrorProblems(`attackSpec ${key} = ${String(v)}`, error, `${key}: `, [AttackParamsError]));
    }
    count("embedding-api", cases.length);
    expect(problems).toEqual([]);
  });
});

describe("the worker afterwards", () => {
  it("still answers health and keeps no half-made artifact", async () => {
    await expectHealthy();
    mkdirSync(join(workspace, "tmp"), { recursive: true });
    expect(readdirSync(join(workspace, "tmp"))).toEqual([]);
  });
});
