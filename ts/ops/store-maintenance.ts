// Workspace maintenance: every artifact checked against its checksums (VerifyStore), and the
// artifacts no run refers to removed (CollectGarbage). Which ids a run refers to is read here,
// from the run folders: results.json, and cache/*.json for runs still in progress (the stage
// ledger names each finished stage's outputs).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { WorkerClient } from "../client/worker-client.js";
import type { ArtifactCheck, RemovedEntry } from "../generated/robustseg/v1/store.js";
import { type OperationContext, silentReporter } from "./reporter.js";

const ARTIFACT_ID = /\b(?:ds|m)-[0-9a-f]{16}\b/g;
const RUN_FILES = ["results.json", "spec.json", "method-two-aggregate.json"];

export interface VerifyOutcome {
  checked: number;
  corrupt: number;
  bytes: number;
  artifacts: ArtifactCheck[];
  quarantined: string[];
  unfinished: string[];
}

export async function verifyStore(client: WorkerClient, options: { leaveCorrupt?: boolean } & OperationContext = {}): Promise<VerifyOutcome> {
  const reporter = options.reporter ?? silentReporter;
  const result = await client.verifyStoreResult(
    { leaveCorrupt: options.leaveCorrupt ?? false },
    { signal: options.signal, onProgress: (p) => reporter.progress({ stage: "verify", done: p.done, total: p.total, message: p.message }) },
  );
  reporter.endStage();
  return {
    checked: result.artifacts.length,
    corrupt: result.corrupt,
    bytes: result.bytes,
    artifacts: result.artifacts,
    quarantined: result.quarantined,
    unfinished: result.unfinished,
  };
}

function isRunFolder(dir: string): boolean {
  return RUN_FILES.some((f) => safeIsFile(join(dir, f))) || safeIsDir(join(dir, "cache"));
}

function safeIsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function safeIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function idsIn(file: string, into: Set<string>): void {
  try {
    for (const m of readFileSync(file, "utf8").matchAll(ARTIFACT_ID)) into.add(m[0]);
  } catch {
    // unreadable: it refers to nothing we can know
  }
}

/**
 * Run folders under `roots` (a root may itself be a run folder, or hold run folders one level
 * down), leaving out `exclude` (the workspace: its meta files name every artifact).
 */
export function findRunFolders(roots: readonly string[], exclude: readonly string[] = []): string[] {
  const skip = new Set(exclude.map((e) => resolve(e)));
  const found: string[] = [];
  for (const root of roots.map((r) => resolve(r))) {
    if (skip.has(root) || !safeIsDir(root)) continue;
    if (isRunFolder(root)) {
      found.push(root);
      continue;
    }
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      const dir = join(root, entry.name);
      if (entry.isDirectory() && !skip.has(dir) && isRunFolder(dir)) found.push(dir);
    }
  }
  return found.sort();
}

/** Every artifact id the run folders name. */
export function referencedIds(runFolders: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const run of runFolders) {
    for (const f of RUN_FILES) idsIn(join(run, f), ids);
    const cache = join(run, "cache");
    if (!safeIsDir(cache)) continue;
    for (const entry of readdirSync(cache)) if (entry.endsWith(".json")) idsIn(join(cache, entry), ids);
  }
  return ids;
}

export interface GarbageOutcome {
  dryRun: boolean;
  runFolders: string[];
  referenced: number;
  kept: number;
  removed: RemovedEntry[];
  bytesFreed: number;
}

export async function collectGarbage(
  client: WorkerClient,
  options: { runRoots: readonly string[]; workspace?: string | undefined; keep?: readonly string[]; dryRun: boolean; minAgeSeconds?: number | undefined } & OperationContext,
): Promise<GarbageOutcome> {
  const runFolders = findRunFolders(options.runRoots, options.workspace ? [options.workspace] : []);
  const ids = referencedIds(runFolders);
  for (const id of options.keep ?? []) ids.add(id);
  const response = await client.collectGarbage(
    { keepIds: [...ids].sort(), dryRun: options.dryRun, minAgeSeconds: options.minAgeSeconds },
    { signal: options.signal, timeoutMs: 600_000 },
  );
  return { dryRun: response.dryRun, runFolders, referenced: ids.size, kept: response.keptIds.length, removed: response.removed, bytesFreed: response.bytesFreed };
}
