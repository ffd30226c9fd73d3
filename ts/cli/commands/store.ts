// `robustseg store verify` and `robustseg store gc`: the worker's workspace checked against the
// checksums each artifact was written with, and cleared of what no run refers to.
import { Command } from "commander";
import { z } from "zod";
import { collectGarbage, type GarbageOutcome, verifyStore, type VerifyOutcome } from "../../ops/store-maintenance.js";
import type { CliContext } from "../context.js";
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
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        verifyStore(client, { leaveCorrupt: options.leaveCorrupt ?? false, signal, reporter }),
      );
      printResult(context.io, globals, result, renderVerify);
      if (result.corrupt > 0) {
        const what = result.artifacts.filter((a) => !a.ok).map((a) => `${a.id} (${a.file})`).join(", ");
        throw new CorruptArtifactsError(
          `${result.corrupt} corrupt artifact${result.corrupt === 1 ? "" : "s"}: ${what}${options.leaveCorrupt ? "" : "; moved to quarantine/"}`,
        );
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

const gcOptionsSchema = z.object({
  dryRun: z.boolean().default(false),
  runs: z.array(z.string().trim().min(1, "must not be empty")).default([]),
  keep: z.array(z.string().regex(/^(ds|m)-[0-9a-f]{16}$/, "must be an artifact id (ds-… or m-… with 16 hex digits)")).default([]),
  minAge: nonNegativeInteger().optional(),
});

function gcCommand(context: CliContext): Command {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  return new Command("gc")
    .summary("remove the artifacts no run refers to")
    .description(
      "Remove every dataset and model of the worker's workspace that no run folder refers to (results.json, or the cache of a " +
        "run still in progress), keeping the parents of what is kept (the datasets a kept model was trained on, the model and " +
        "clean set of a kept attacked set) and the models a serving alias points to; also quarantine/, unfinished temporaries, " +
        "unused lock files and stale training checkpoints. Anything younger than --min-age is kept: a run in progress may not " +
        "have recorded it yet. Run folders are found under --runs (default: runs/).",
    )
    .option("--dry-run", "list what would be removed; remove nothing")
    .option("--runs <dir>", "a run folder, or a folder of run folders (repeatable; default runs/)", collect)
    .option("--keep <id>", "keep this artifact (and its parents) too (repeatable)", collect)
    .option("--min-age <seconds>", "keep anything younger than this (default 3600)")
    .action(async (_options, command: Command) => {
      const options = parseOptions(gcOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal }) =>
        collectGarbage(client, {
          runRoots: options.runs.length > 0 ? options.runs : ["runs"],
          workspace: globals.worker === undefined ? globals.workspace : undefined,
          keep: options.keep,
          dryRun: options.dryRun,
          minAgeSeconds: options.minAge,
          signal,
        }),
      );
      printResult(context.io, globals, result, renderGc);
    });
}

export function renderGc(r: GarbageOutcome): string {
  const verb = r.dryRun ? "would remove" : "removed";
  const summary = renderKeyValues([
    ["run folders", r.runFolders.length === 0 ? "none found" : r.runFolders.join(", ")],
    ["referenced", `${r.referenced} artifact ids`],
    ["kept", `${r.kept} artifacts`],
    [verb, `${r.removed.length} entries, ${bytes(r.bytesFreed)}`],
  ]);
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
