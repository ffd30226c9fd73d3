// Which run a run folder belongs to. A run writes `.robustseg-run.json` (the tool, the experiment's
// name and its spec's hash) when it starts, and a later run may use the folder only when it is the
// same experiment: the same name. A changed spec under the same name is the same run, resumed:
// its stage cache is keyed by each stage's inputs, so what the change touches is run again and
// the rest is reused. Another experiment's run folder, or a non-empty folder robustseg did not
// make, is refused unless the user forces it.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic, temporaryWriter } from "./atomic.js";

export const RUN_MARKER_FILE = ".robustseg-run.json";
export const RUN_MARKER_SCHEMA = "robustseg.run-folder/v1";
/** What a run folder from before the marker holds: its spec, with the experiment's name. */
const LEGACY_SPEC_FILE = "spec.json";

export interface RunMarker {
  schema: typeof RUN_MARKER_SCHEMA;
  tool: "robustseg";
  /** The experiment's name: the run's identity. */
  name: string;
  /** sha256 of the spec last run here (for the record; a change does not make another run). */
  specHash: string;
}

export class RunFolderError extends Error {
  override readonly name = "RunFolderError";
}

/** JSON with object keys sorted (undefined values left out), so two specs compare and hash by content. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export function specHash(spec: unknown): string {
  return createHash("sha256").update(canonicalJson(spec)).digest("hex");
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

/** The folder's entries other than robustseg's own temporaries (a start killed mid-write leaves one). */
function entriesOf(dir: string): string[] | undefined {
  try {
    return readdirSync(dir).filter((name) => temporaryWriter(name) === undefined);
  } catch {
    return undefined; // not there yet
  }
}

/**
 * Why the run of experiment `name` may not use `dir`, or undefined when it may: nothing there, an
 * empty folder, this experiment's run folder (by its marker, or from before markers by its
 * spec.json). `force` takes any folder.
 */
export function runFolderProblem(dir: string, name: string, force = false): string | undefined {
  if (force) return undefined;
  const entries = entriesOf(dir);
  if (entries === undefined || entries.length === 0) return undefined;
  const advice = "choose another folder, or pass --force to write into it anyway";
  if (entries.includes(RUN_MARKER_FILE)) {
    const marker = readJson(join(dir, RUN_MARKER_FILE)) as Partial<RunMarker> | undefined;
    if (marker?.tool !== "robustseg" || typeof marker.name !== "string") return `${dir} has an unreadable ${RUN_MARKER_FILE}; ${advice}`;
    return marker.name === name ? undefined : `${dir} holds the run of another experiment (${JSON.stringify(marker.name)}, not ${JSON.stringify(name)}); ${advice}`;
  }
  if (entries.includes(LEGACY_SPEC_FILE)) {
    const legacy = readJson(join(dir, LEGACY_SPEC_FILE)) as { name?: unknown } | undefined;
    if (legacy?.name === name) return undefined;
    if (typeof legacy?.name === "string") return `${dir} holds the run of another experiment (${JSON.stringify(legacy.name)}, not ${JSON.stringify(name)}); ${advice}`;
  }
  return `${dir} is not empty and is no robustseg run folder (${entries.length} entr${entries.length === 1 ? "y" : "ies"}, no ${RUN_MARKER_FILE}); ${advice}`;
}

/** Checks `dir` for the run of `name` and marks it as that run's (written before anything else). */
export async function claimRunFolder(dir: string, name: string, spec: unknown, force = false): Promise<void> {
  const problem = runFolderProblem(dir, name, force);
  if (problem) throw new RunFolderError(`--out: ${problem}`);
  const marker: RunMarker = { schema: RUN_MARKER_SCHEMA, tool: "robustseg", name, specHash: specHash(spec) };
  await writeJsonAtomic(join(dir, RUN_MARKER_FILE), marker);
}
