// `robustseg store verify` and `robustseg store gc`: the worker's workspace checked against the
// checksums each artifact was written with, and cleared of what no run refers to.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import {
  collectGarbage,
  type GarbageOutcome,
  gatherRunReferences,
  isArtifactEntry,
  verifyStore,
  type VerifyOutcome,
} from "../../ops/store-maintenance.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { bytes } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { nonNegativeInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { parseOptions } from "../parse-options.js";
import { renderKeyValues, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

/** What `store verify` found: corrupt artifacts make the command fail after printing them. */
export class CorruptArtifactsError extends Error {
  override readonly name = "CorruptArtifactsError";
}

function verifyCommand(context: CliContext): Command {
  return new Command("verify")
    .summary("check every artifact of the workspace against its checksums")
    .description(
      "Check every dataset and model of the worker's workspace the way each load does: the sha256 of every file against the " +
        "manifest written with it, meta.json, finite weights and pixel values in [0, 1]. A corrupt artifact is moved to " +
        "quarantine/ (so the command or run that made it rebuilds it when asked again) unless --leave-corrupt. Exits 1 when " +
        "any artifact is corrupt.",
    )
    .option("--leave-corrupt", "report corrupt artifacts without moving them to quarantine/")
    .action(async (options: { leaveCorrupt?: boolean }, command: Command) => {
      const globals = parseGlobalOptions(command, context.io.env);
      // Verifying only reads: a workspace on read-only storage is opened read-only.
      const result = await withWorker(
        context,
        globals,
        ({ client, signal, reporter }) => verifyStore(client, { leaveCorrupt: options.leaveCorrupt ?? false, signal, reporter }),
        { readOnlyWhenUnwritable: true },
      );
      printResult(context.io, globals, result, renderVerify);
      if (result.corrupt > 0) {
        const bad = result.artifacts.filter((a) => !a.ok);
        const what = bad.map((a) => `${a.id} (${a.file})`).join(", ");
        // On read-only storage nothing can be moved: say so instead of claiming a quarantine.
        const moved = bad.every((a) => a.quarantinedTo) ? "; moved to quarantine/" : bad.some((a) => a.quarantinedTo) ? "; some moved to quarantine/, the rest left in place" : "; left in place";
        throw new CorruptArtifactsError(`${result.corrupt} corrupt artifact${result.corrupt === 1 ? "" : "s"}: ${what}${moved}`);
      }
    });
}

export function renderVerify(r: VerifyOutcome): string {
  const bad = r.artifacts.filter((a) => !a.ok);
  const summary = renderKeyValues([
    ["artifacts", `${r.checked} checked, ${bytes(r.bytes)}`],
    ["corrupt", String(r.corrupt)],
    ["quarantine", r.quarantined.length === 0 ? "empty" : r.quarantined.join(", ")],
    ["unfinished", r.unfinished.length === 0 ? "none" : r.unfinished.join(", ")],
  ]);
  if (bad.length === 0) return summary;
  const rows = bad.map((a) => [a.kind, a.id, a.file, a.problem, a.quarantinedTo || "left in place"]);
  return `${summary}\n\n${renderTable({ head: ["kind", "id", "file", "problem", "now"], rows })}`;
}

/** More artifacts than a gc removes without --yes: a bigger collection is listed and refused. */
export const GC_CONFIRM_ABOVE = 10;
const DEFAULT_RUNS = "runs";

/** gc would remove more than GC_CONFIRM_ABOVE artifacts and --yes was not given (exit code 2). */
export class ConfirmationRequiredError extends UsageError {}

const gcOptionsSchema = z.object({
  dryRun: z.boolean().default(false),
  runs: z.array(z.string().trim().min(1, "must not be empty")).default([]),
  keep: z.array(z.string().regex(/^(ds|m)-[0-9a-f]{16}$/, "must be an artifact id (ds-… or m-… with 16 hex digits)")).default([]),
  minAge: nonNegativeInteger().optional(),
  force: z.boolean().default(false),
  yes: z.boolean().default(false),
});

/** A --runs folder given on the command line must be there: a typo would protect nothing. */
function checkRunRoots(roots: readonly string[]): void {
  for (const root of roots) {
    let isDir: boolean;
    try {
      isDir = statSync(root).isDirectory();
    } catch {
      throw new UsageError(`--runs: ${resolve(root)} does not exist`);
    }
    if (!isDir) throw new UsageError(`--runs: ${resolve(root)} is not a folder`);
  }
}

function gcCommand(context: CliContext): Command {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  return new Command("gc")
    .summary("remove the artifacts no run refers to")
    .description(
      "Remove every dataset and model of the worker's workspace that no run folder refers to (results.json, or the cache of a " +
        "run still in progress), keeping the parents of what is kept (the datasets a kept model was trained on, the model and " +
        "clean set of a kept attacked set), the models a serving alias points to and whatever a call in progress is using; " +
        "also quarantine/, unfinished temporaries, unused lock files and stale training checkpoints. Anything younger than " +
        "--min-age is kept: a run in progress may not have recorded it yet. Run folders are found under --runs (default: " +
        "runs/) and through the workspace's record of the run folders each run used (so gc keeps the same from any " +
        "directory; a folder recorded on another machine keeps what it recorded). Refuses a --runs path that is missing or " +
        "holds no run, and finding no run folder at all (unless --force); lists instead of removing more than " +
        `${GC_CONFIRM_ABOVE} artifacts (unless --yes).`,
    )
    .option("--dry-run", "list what would be removed; remove nothing")
    .option("--runs <dir>", "a run folder, or a folder of run folders (repeatable; default runs/); must exist", collect)
    .option("--keep <id>", "keep this artifact (and its parents) too (repeatable)", collect)
    .option("--min-age <seconds>", "keep anything younger than this (default 3600)")
    .option("--force", "collect even when a --runs folder holds no run, or no run folder is found at all")
    .option("--yes", `remove more than ${GC_CONFIRM_ABOVE} artifacts if that is what gc finds`)
    .action(async (_options, command: Command) => {
      const options = parseOptions(gcOptionsSchema, command.opts(), command);
      checkRunRoots(options.runs);
      const globals = parseGlobalOptions(command, context.io.env);
      const runRoots = options.runs.length > 0 ? options.runs : [DEFAULT_RUNS];
      const result = await withWorker(context, globals, async ({ client, signal }) => {
        const references = await gatherRunReferences(client, {
          runRoots,
          workspace: globals.worker === undefined ? globals.workspace : undefined,
          signal,
        });
        // A folder named with --runs that holds no run is a mistake more often than not.
        const [empty] = options.runs.length > 0 ? references.emptyRoots : [];
        if (empty !== undefined && !options.force) {
          throw new UsageError(`--runs: no run folder in ${empty} names an artifact; gc would keep nothing for it: check the path, or pass --force`);
        }
        if (references.runFolders.length === 0 && !options.force) {
          throw new UsageError(
            `--runs: no run folder found under ${runRoots.map((r) => resolve(r)).join(", ")} and none recorded in the workspace; ` +
              "gc would remove every artifact not kept otherwise: name the run folders with --runs, or pass --force",
          );
        }
        return collectGarbage(client, references, {
          keep: options.keep,
          dryRun: options.dryRun,
          minAgeSeconds: options.minAge,
          maxArtifacts: options.yes || options.dryRun ? undefined : GC_CONFIRM_ABOVE,
          signal,
        });
      });
      printResult(context.io, globals, result, renderGc);
      if (result.overLimit) {
        const ids = result.removed.filter(isArtifactEntry).map((e) => e.path.slice(e.path.lastIndexOf("/") + 1));
        const shown = ids.length > 5 ? `${ids.slice(0, 5).join(", ")}, … (${ids.length - 5} more)` : ids.join(", ");
        throw new ConfirmationRequiredError(`would remove ${ids.length} artifacts: ${shown}; pass --yes to remove them`);
      }
    });
}

export function renderGc(r: GarbageOutcome): string {
  const verb = r.dryRun || r.overLimit ? "would remove" : "removed";
  const rows: [string, string][] = [
    ["run folders", r.runFolders.length === 0 ? "none found" : r.runFolders.join(", ")],
    ...(r.elsewhere.length > 0 ? [["recorded elsewhere", r.elsewhere.join(", ")] as [string, string]] : []),
    ["referenced", `${r.referenced} artifact ids`],
    ["kept", `${r.kept} artifacts`],
    [verb, `${r.removed.length} entries (${r.artifacts} artifacts), ${bytes(r.bytesFreed)}`],
  ];
  if (r.forgottenRuns > 0) rows.push([r.dryRun || r.overLimit ? "would forget" : "forgot", `${r.forgottenRuns} records of run folders that are gone`]);
  const summary = renderKeyValues(rows);
  if (r.removed.length === 0) return summary;
  return `${summary}\n\n${renderTable({ head: ["kind", "path", "size"], rows: r.removed.map((e) => [e.kind, e.path, bytes(e.bytes)]) })}`;
}

export function storeCommand(context: CliContext): Command {
  return new Command("store")
    .summary("the worker's workspace: verify checksums, remove what no run uses")
    .description("The worker's artifact workspace (datasets, models).")
    .addCommand(verifyCommand(context))
    .addCommand(gcCommand(context));
}
