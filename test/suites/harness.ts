// Shared by the slow suites (chaos, fuzz, concurrency): the CLI as a subprocess, a real worker,
// results.json without the fields that differ between two runs of the same spec, and the
// checks that a run folder and a workspace hold no partial or orphaned file.
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { alive } from "../fixtures/scripts.js";

export { alive };

export const repo = join(import.meta.dirname, "..", "..");
export const cliPath = join(repo, "bin", "robustseg.mjs");

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  pid: number;
  /** Called with each stderr line as it arrives. */
  onLine(listener: (line: string) => void): void;
  done: Promise<CliRun>;
}

/** `node bin/robustseg.mjs ARGS` with stdin closed; nothing is killed here but by the caller. */
export function startCli(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): RunningCli {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let partial = "";
  const listeners: ((line: string) => void)[] = [];
  child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) for (const l of listeners) l(line);
  });
  const done = new Promise<CliRun>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { pid: child.pid as number, onLine: (l) => void listeners.push(l), done };
}

export async function runCli(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliRun> {
  return startCli(args, options).done;
}

/** Child processes of `pid` (the worker a CLI spawned), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid && fields[0] !== "Z") out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function waitFor(check: () => boolean, ms: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}

const VOLATILE = new Set(["startedAt", "finishedAt", "totalSeconds", "runDir", "reused", "cached", "seconds", "attempts"]);

/** results.json without what legitimately differs between two runs of one spec: times, run folder, reuse flags. */
export function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !VOLATILE.has(k)).map(([k, v]) => [k, comparable(v)]));
  }
  return value;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Problems of a finished run folder: temporaries left behind, files that do not parse or are cut short. */
export function runFolderProblems(runDir: string): string[] {
  const problems: string[] = [];
  for (const file of walk(runDir)) {
    const name = relative(runDir, file);
    if (/\.tmp|\btmp-|~$/.test(name)) problems.push(`${name}: a temporary file left behind`);
    else if (name.endsWith(".json")) {
      try {
        JSON.parse(readFileSync(file, "utf8"));
      } catch {
        problems.push(`${name}: not valid JSON`);
      }
    } else if (name.endsWith(".jsonl")) {
      const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
      for (const [i, line] of lines.entries()) {
        try {
          JSON.parse(line);
        } catch {
          problems.push(`${name}: line ${i + 1} is not valid JSON`);
          break;
        }
      }
    } else if (name.endsWith(".png")) {
      const png = readFileSync(file);
      if (!png.subarray(0, 8).equals(PNG_SIGNATURE) || png.subarray(-8, -4).toString("latin1") !== "IEND") problems.push(`${name}: a truncated PNG`);
    } else if (name.endsWith(".html")) {
      if (!readFileSync(file, "utf8").trimEnd().endsWith("</html>")) problems.push(`${name}: cut short`);
    }
  }
  return problems;
}

/** Problems of a workspace after the last run: unfinished temporaries, checkpoints, quarantined artifacts. */
export function workspaceProblems(workspace: string): string[] {
  const problems: string[] = [];
  for (const sub of ["tmp", "checkpoints", "quarantine"]) {
    const dir = join(workspace, sub);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) problems.push(`${sub}/${entry}: left behind`);
  }
  for (const kind of ["datasets", "models"]) {
    for (const id of readdirSync(join(workspace, kind))) {
      for (const f of ["meta.json", "manifest.json"]) if (!existsSync(join(workspace, kind, id, f))) problems.push(`${kind}/${id}: no ${f}`);
    }
  }
  for (const entry of readdirSync(workspace)) {
    if (entry.startsWith(".") && statSync(join(workspace, entry)).isFile()) problems.push(`${entry}: a temporary file left behind`);
  }
  return problems;
}

/** One JSON line per suite result, for docs/reliability.md (ROBUSTSEG_SUITE_REPORT). */
export function reportSuite(record: Record<string, unknown>): void {
  const file = process.env.ROBUSTSEG_SUITE_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/** A small seeded generator (mulberry32): the same seed, the same schedule. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
