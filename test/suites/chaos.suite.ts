// Chaos suite: a small `robustseg run` is SIGKILLed again and again, the CLI or its
// worker, in every stage, including in the middle of artifact writes, training checkpoints, the
// method-two record, the figures and the report (fail points: the process kills itself at a named
// place). After each kill the run is resumed (the CLI restarted, or the worker restarted by the
// CLI's supervisor). The finished run must equal an uninterrupted one (results.json without times
// and reuse flags), and neither the run folder nor the workspace may hold a partial or orphaned
// file or process.
//
// npm run test:chaos   ROBUSTSEG_CHAOS_SEED (default 1) and ROBUSTSEG_CHAOS_KILLS (default 22)
// choose the schedule; every kill is logged with the stage it hit.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSpec } from "../../ts/experiment/spec.js";
import { planExperiment } from "../../ts/experiment/plan.js";
import { alive, childrenOf, comparable, reportSuite, runCli, runFolderProblems, seeded, startCli, waitFor, workspaceProblems } from "./harness.js";

const SEED = Number(process.env.ROBUSTSEG_CHAOS_SEED ?? 1);
const KILLS = Number(process.env.ROBUSTSEG_CHAOS_KILLS ?? 22);
const dir = mkdtempSync(join(tmpdir(), "robustseg-chaos-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC = `
name: chaos
data: { source: synthetic-histology, tileSize: 24, train: 12, validation: 4, test: 4, seed: 3 }
model: { architecture: unet, depth: 2, baseWidth: 6, upsampling: bilinear }
training: { epochs: 3, batchSize: 4, learningRate: 0.01, seed: 1, augment: true }
methodOne: { epsilon: 0.02, steps: 2 }
methodTwo: { epsilon: 0.02, strategy: greedy }
evaluation: { attack: { method: pgd, epsilon: 0.02, steps: 2, target: background }, protocols: [white-box, transfer] }
sweeps: [ { model: [M1], attack: { method: pgd, steps: 2, target: background }, epsilons: [0, 0.01, 0.02] } ]
`;

/** Where a kill comes from: a fail point in the worker or the CLI, or a SIGKILL from here. */
type Kill =
  | { kind: "failpoint"; point: string; hit: number; process: "worker" | "cli" }
  | { kind: "signal"; target: "cli" | "worker"; delayMs: number };

// Fail points by the stage kind they belong to (robustseg_worker/failpoints.py, ts/chaos/failpoints.ts).
const FAILPOINTS: Record<string, { point: string; process: "worker" | "cli"; hits: number }[]> = {
  data: [{ point: "store.write.filled", process: "worker", hits: 1 }, { point: "store.write.sealed", process: "worker", hits: 2 }],
  train: [{ point: "train.step", process: "worker", hits: 6 }, { point: "checkpoint.saved", process: "worker", hits: 2 }, { point: "store.write.sealed", process: "worker", hits: 1 }],
  "method-one": [{ point: "attack.batch", process: "worker", hits: 1 }, { point: "store.write.filled", process: "worker", hits: 1 }],
  "method-two": [{ point: "record.write", process: "cli", hits: 1 }, { point: "cache.write", process: "cli", hits: 1 }, { point: "store.write.sealed", process: "worker", hits: 1 }],
  "transfer-attack": [{ point: "store.write.sealed", process: "worker", hits: 1 }],
  evaluate: [{ point: "cache.write", process: "cli", hits: 1 }],
  sweep: [{ point: "cache.write", process: "cli", hits: 2 }, { point: "sweep.write", process: "cli", hits: 1 }],
  figures: [{ point: "figures.write", process: "cli", hits: 3 }],
  report: [{ point: "results.write", process: "cli", hits: 1 }, { point: "report.write", process: "cli", hits: 1 }],
};

interface KillRecord {
  pass: number;
  kill: Kill;
  /** The stage the run was in when the process died (the last "started" line). */
  stage: string;
  resumedBy: "cli-restart" | "worker-restart";
}

// Every first pass dies at least once at each of these (one per name: a process reads one count
// per fail point): artifact writes before and after sealing, a training checkpoint and step, the
// method-one attack, the method-two record, the run cache, a sweep, the figures, results.json and
// the report. SIGKILLs at random moments come on top.
const REQUIRED: readonly (readonly [kind: string, point: string, hit: number, process: "worker" | "cli"])[] = [
  ["data", "store.write.filled", 1, "worker"],
  ["data", "store.write.sealed", 2, "worker"],
  ["train", "train.step", 6, "worker"],
  ["train", "checkpoint.saved", 2, "worker"],
  ["method-one", "attack.batch", 1, "worker"],
  ["method-two", "record.write", 1, "cli"],
  ["method-two", "cache.write", 1, "cli"],
  ["sweep", "sweep.write", 1, "cli"],
  ["figures", "figures.write", 3, "cli"],
  ["report", "results.write", 1, "cli"],
  ["report", "report.write", 1, "cli"],
];

/** One pass's kills: stages drawn in plan order, a fail point of the stage's kind or a SIGKILL. */
function planPass(random: () => number, kinds: readonly string[], count: number, required = false): { stageIndex: number; kill: Kill }[] {
  const picks = Array.from({ length: count }, () => Math.floor(random() * kinds.length)).sort((a, b) => a - b);
  if (required) {
    const fixed = REQUIRED.map(([kind, point, hit, process]) => ({ stageIndex: kinds.indexOf(kind), kill: { kind: "failpoint" as const, point, hit, process } }));
    const signals = picks.map((stageIndex) => ({ stageIndex, kill: { kind: "signal" as const, target: random() < 0.5 ? ("cli" as const) : ("worker" as const), delayMs: Math.floor(random() * 1200) } }));
    return [...fixed, ...signals].sort((a, b) => a.stageIndex - b.stageIndex);
  }
  const seen = new Set<string>();
  return picks.flatMap((stageIndex): { stageIndex: number; kill: Kill }[] => {
    const points = FAILPOINTS[kinds[stageIndex] as string] ?? [];
    if (points.length > 0 && (kinds[stageIndex] === "report" || random() < 0.45)) {
      const p = points[Math.floor(random() * points.length)] as (typeof points)[number];
      const key = `${p.point}@${p.hits}`;
      if (seen.has(key)) return [];
      seen.add(key);
      return [{ stageIndex, kill: { kind: "failpoint" as const, point: p.point, hit: p.hits, process: p.process } }];
    }
    return [{ stageIndex, kill: { kind: "signal" as const, target: random() < 0.5 ? ("cli" as const) : ("worker" as const), delayMs: Math.floor(random() * 1200) } }];
  });
}

describe(`chaos: at least ${KILLS} SIGKILLs across runs (seed ${SEED})`, () => {
  it("every kill is resumed and each run ends equal to an uninterrupted one, with nothing partial left", async () => {
    const started = performance.now();
    const specFile = join(dir, "spec.yaml");
    writeFileSync(specFile, SPEC);
    const spec = await loadSpec({ file: specFile });
    const stages = planExperiment(spec);
    const labels = stages.map((s, i) => `[${i + 1}/${stages.length}] ${s.label}`);
    const kinds = [...stages.map((s) => s.kind as string), "report"];
    const common = ["run", specFile, "--device", "cpu"];

    // The reference: the same spec, uninterrupted, in its own workspace.
    const reference = await runCli([...common, "--out", join(dir, "reference"), "--workspace", join(dir, "ws-reference"), "--json"], { cwd: dir });
    expect(reference.stderr).toBe("");
    expect(reference.code).toBe(0);
    const expected = comparable(JSON.parse(readFileSync(join(dir, "reference", "results.json"), "utf8")));

    const random = seeded(SEED);
    const records: KillRecord[] = [];
    const workerPids = new Set<number>();
    let sessions = 0;
    let pass = 0;
    while (records.length < KILLS) {
      pass++;
      if (pass > 10) throw new Error(`only ${records.length} kills landed in 10 runs`);
      // Each pass: a fresh run folder and workspace, so every stage does real work again.
      const out = join(dir, `chaos-${pass}`);
      const workspace = join(dir, `ws-chaos-${pass}`);
      const markers = mkdtempSync(join(dir, `markers-${pass}-`));
      // The first pass carries the required fail points and more SIGKILLs than are needed (some
      // land after their stage has finished and move on); later passes make up any shortfall.
      const plan = pass === 1 ? planPass(random, kinds, KILLS - REQUIRED.length + 6, true) : planPass(random, kinds, Math.min(16, KILLS - records.length + 4));
      const failpoints = plan.filter((k) => k.kill.kind === "failpoint").map((k) => k.kill as Extract<Kill, { kind: "failpoint" }>);
      const signals = plan.filter((k) => k.kill.kind === "signal");
      const fired = new Set<string>();
      for (;;) {
        sessions++;
        if (sessions > 200) throw new Error("the run does not finish");
        // Fail points not yet fired, each at most once over the whole pass (its marker file).
        const pending = failpoints.filter((f) => !fired.has(`${f.point}@${f.hit}`));
        const env: NodeJS.ProcessEnv = pending.length === 0 ? {} : {
          ROBUSTSEG_FAILPOINTS: pending.map((f) => `${f.point}@${f.hit}`).join(","),
          ROBUSTSEG_FAILPOINT_ONCE: markers,
        };
        const cli = startCli([...common, "--out", out, "--workspace", workspace, "--progress", "plain"], { cwd: dir, env });
        let stage = "start";
        let cliKilled = false;
        let armed = false;
        const arm = (index: number) => {
          const head = signals[0];
          if (!head || armed || index < head.stageIndex || head.kill.kind !== "signal") return;
          armed = true;
          const { target, delayMs } = head.kill;
          setTimeout(() => {
            armed = false;
            const pid = target === "cli" ? cli.pid : childrenOf(cli.pid)[0];
            if (pid === undefined || !alive(pid)) return; // the run moved on or ended: try at the next stage
            signals.shift();
            process.kill(pid, "SIGKILL");
            if (target === "cli") cliKilled = true;
            records.push({ pass, kill: head.kill, stage, resumedBy: target === "cli" ? "cli-restart" : "worker-restart" });
          }, delayMs);
        };
        cli.onLine((line) => {
          for (const pid of childrenOf(cli.pid)) workerPids.add(pid);
          const m = /^(\[\d+\/\d+\] [^:]+): started/.exec(line);
          if (m) {
            stage = m[1] as string;
            arm(labels.indexOf(stage));
          } else if (line.startsWith("the worker failed; restarting")) {
            // A worker fail point fired (or a signal): the CLI's supervisor resumes the stage.
            noteFailpoints("worker-restart");
          }
        });
        const noteFailpoints = (resumedBy: KillRecord["resumedBy"]) => {
          for (const f of failpoints) {
            const key = `${f.point}@${f.hit}`;
            if (!fired.has(key) && existsSync(join(markers, markerName(key)))) {
              fired.add(key);
              records.push({ pass, kill: f, stage, resumedBy });
            }
          }
        };
        const result = await cli.done;
        noteFailpoints(result.signal === "SIGKILL" ? "cli-restart" : "worker-restart");
        // A killed CLI's worker notices that its parent is gone and exits: wait for that.
        for (const pid of workerPids) await waitFor(() => !alive(pid), 30_000);
        if (result.code === 0) break;
        if (!cliKilled && result.signal !== "SIGKILL") {
          // The CLI gave up (a stage failed three times in a row): the next session resumes.
          expect(result.stderr).toMatch(/^error: /m);
        }
      }
      expect(comparable(JSON.parse(readFileSync(join(out, "results.json"), "utf8")))).toEqual(expected);
      expect(runFolderProblems(out)).toEqual([]);
      expect(workspaceProblems(workspace)).toEqual([]);
      const verify = await runCli(["--workspace", workspace, "--device", "cpu", "store", "verify", "--json"], { cwd: dir });
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout).corrupt).toBe(0);
    }

    // eslint-disable-next-line no-console
    console.log(records.map((r, i) => `${i + 1}. pass ${r.pass}: ${describeKill(r.kill)} in ${r.stage}, ${r.resumedBy}`).join("\n"));
    for (const pid of workerPids) expect(alive(pid)).toBe(false);
    expect(records.length).toBeGreaterThanOrEqual(KILLS);
    // Each required fail point fired (a pass that ends without one would have shown it above).
    const fired = new Set(records.filter((r) => r.kill.kind === "failpoint").map((r) => (r.kill as { point: string }).point));
    expect(REQUIRED.map(([, point]) => point).filter((p) => !fired.has(p))).toEqual([]);
    reportSuite({
      suite: "chaos",
      seed: SEED,
      kills: records.length,
      runs: pass,
      sessions,
      cliKills: records.filter((r) => r.resumedBy === "cli-restart").length,
      workerKills: records.filter((r) => r.resumedBy === "worker-restart").length,
      failpoints: records.filter((r) => r.kill.kind === "failpoint").map((r) => (r.kill as { point: string }).point),
      seconds: Math.round((performance.now() - started) / 1000),
      stagesHit: [...new Set(records.map((r) => r.stage.replace(/^\[\d+\/\d+\] /, "")))],
    });
  });
});

/** The marker file a fail point creates when it fires (robustseg_worker/failpoints.py). */
function markerName(key: string): string {
  return `${key}.once`;
}

function describeKill(k: Kill): string {
  return k.kind === "failpoint" ? `fail point ${k.point}@${k.hit} (${k.process})` : `SIGKILL of the ${k.target} after ${k.delayMs} ms`;
}
