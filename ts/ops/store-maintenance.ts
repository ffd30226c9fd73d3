// Workspace maintenance: every artifact checked against its checksums (VerifyStore), and the
// artifacts no run refers to removed (CollectGarbage). Which ids a run refers to is read here,
// from the run folders: results.json, and cache/*.json for runs still in progress (the stage
// ledger names each finished stage's outputs). Run folders are found under the folders given,
// and through the workspace's own records (RecordRunUsage, made by each run as it goes), so
// what gc keeps does not depend on the directory it is started from. A record is checked here,
// on this machine, because the run folder lives beside the CLI that ran it, not the worker.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve, sep } from "node:path";
import { WorkerError } from "../client/errors.js";
import type { WorkerClient } from "../client/worker-client.js";
import type { ArtifactCheck, RemovedEntry, RunUsage, RunUsageCheck } from "../generated/robustseg/v1/store.js";
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

/** Ids of stages whose record failed (a worker restarting, say), sent again with the next. */
const unrecorded = new Map<string, Set<string>>();

/**
 * Records in the workspace that the run folder `runDir` uses the artifact ids named in `used`
 * (ids, or text holding them, such as a stage's outputs). Best effort: a worker that cannot
 * record now (restarting, or older than the call) does not fail the run; the ids go with the
 * next record. Thrown: the caller's own cancellation, and INVALID_ARGUMENT (a bug here, not a
 * passing state of the worker).
 */
export async function recordRunUsage(
  client: WorkerClient,
  runDir: string,
  used: string | readonly string[],
  options: OperationContext = {},
): Promise<RunUsage | undefined> {
  const runFolder = resolve(runDir);
  const ids = unrecorded.get(runFolder) ?? new Set<string>();
  for (const text of typeof used === "string" ? [used] : used) for (const m of text.matchAll(ARTIFACT_ID)) ids.add(m[0]);
  if (ids.size === 0) return undefined;
  try {
    const usage = await client.recordRunUsage({ host: hostname(), runFolder, artifactIds: [...ids].sort() }, { signal: options.signal });
    unrecorded.delete(runFolder);
    return usage;
  } catch (error) {
    if (options.signal?.aborted || (error instanceof WorkerError && error.codeName === "INVALID_ARGUMENT")) throw error;
    unrecorded.set(runFolder, ids);
    return undefined;
  }
}

/** What gc keeps because of run folders, found under the given roots and through the records. */
export interface RunReferences {
  /** Run folders under the roots given, and recorded ones on this machine, that name an artifact. */
  runFolders: string[];
  /** Recorded run folders of other machines: the worker keeps their ids whole. */
  elsewhere: string[];
  /** The roots given (absolute) under which no run folder names an artifact. */
  emptyRoots: string[];
  /** Every artifact id those folders name (for a recorded folder: what it still lists). */
  ids: Set<string>;
  /** The records looked at here, for the worker (a gone folder's record is deleted). */
  checkedRuns: RunUsageCheck[];
}

export async function gatherRunReferences(
  client: WorkerClient,
  options: { runRoots: readonly string[]; workspace?: string | undefined } & OperationContext,
): Promise<RunReferences> {
  const exclude = options.workspace ? [options.workspace] : [];
  // A folder that names no artifact (a user's own results.json, a run not yet past its first
  // stage) keeps nothing, so it does not count as found.
  const scanned = findRunFolders(options.runRoots, exclude).filter((f) => referencedIds([f]).size > 0);
  const emptyRoots = options.runRoots.map((r) => resolve(r)).filter((root) => !scanned.some((f) => f === root || f.startsWith(`${root}${sep}`)));
  const ids = referencedIds(scanned);
  const runFolders = new Set(scanned);
  const elsewhere: string[] = [];
  const checkedRuns: RunUsageCheck[] = [];
  const here = hostname();
  for (const usage of await client.listRunUsage({ signal: options.signal })) {
    if (usage.host !== here) {
      elsewhere.push(`${usage.host}:${usage.runFolder}`);
      continue;
    }
    const exists = safeIsDir(usage.runFolder);
    checkedRuns.push({ key: usage.key, revision: usage.revision, folderGone: !exists });
    if (!exists) continue;
    // What the folder lists now: a recorded id it no longer names (a rerun changed it) goes.
    const listed = referencedIds([usage.runFolder]);
    const stillUsed = usage.artifactIds.filter((id) => listed.has(id));
    for (const id of stillUsed) ids.add(id);
    if (stillUsed.length > 0) runFolders.add(usage.runFolder);
  }
  return { runFolders: [...runFolders].sort(), elsewhere: elsewhere.sort(), emptyRoots, ids, checkedRuns };
}

export interface GarbageOutcome {
  dryRun: boolean;
  /** More artifacts would have gone than maxArtifacts: nothing was removed. */
  overLimit: boolean;
  runFolders: string[];
  elsewhere: string[];
  referenced: number;
  kept: number;
  removed: RemovedEntry[];
  /** Datasets and models among `removed`. */
  artifacts: number;
  bytesFreed: number;
  /** Records of run folders that no longer exist, deleted (or, dry, that would be). */
  forgottenRuns: number;
}

export function isArtifactEntry(entry: RemovedEntry): boolean {
  return entry.kind === "dataset" || entry.kind === "model";
}

export async function collectGarbage(
  client: WorkerClient,
  references: RunReferences,
  options: { keep?: readonly string[]; dryRun: boolean; minAgeSeconds?: number | undefined; maxArtifacts?: number | undefined } & OperationContext,
): Promise<GarbageOutcome> {
  const ids = new Set(references.ids);
  for (const id of options.keep ?? []) ids.add(id);
  const response = await client.collectGarbage(
    {
      keepIds: [...ids].sort(),
      dryRun: options.dryRun,
      minAgeSeconds: options.minAgeSeconds,
      maxArtifacts: options.maxArtifacts,
      checkedRuns: references.checkedRuns,
    },
    { signal: options.signal, timeoutMs: 600_000 },
  );
  return {
    dryRun: response.dryRun,
    overLimit: response.overLimit,
    runFolders: references.runFolders,
    elsewhere: references.elsewhere,
    referenced: ids.size,
    kept: response.keptIds.length,
    removed: response.removed,
    artifacts: response.removed.filter(isArtifactEntry).length,
    bytesFreed: response.bytesFreed,
    forgottenRuns: response.forgottenRuns.length,
  };
}
