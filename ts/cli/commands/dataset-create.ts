// `robustseg dataset create`: a dataset (one artifact per split) on the worker, from any source:
// synthetic-histology, kandinsky, pannuke (fold folders), folder (images/ + masks/ PNGs).
// `robustseg dataset show ID`: one dataset's metadata, class pixel shares, tags and provenance.
import { statSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import {
  DATA_SOURCE_NAMES,
  DATA_SOURCES,
  type DatasetSource,
  dataSourceModule,
  describeSource,
  sourceFolders,
} from "../../data-sources/registry.js";
import { createDataset, type CreateDatasetOutcome, type DatasetSummary, summariseDataset } from "../../ops/create-dataset.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { addExtensionOptions, extensionFromCli, flagOfOption } from "../extension-options.js";
import { count, percent } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderKeyValues, renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const datasetCreateOptionsSchema = z.object({ source: choice(DATA_SOURCE_NAMES) });

/** Every folder a source names exists (the message names the option). */
function checkFolders(source: DatasetSource): void {
  const module = dataSourceModule(source.source);
  for (const { option: key, folder } of sourceFolders(source)) {
    let ok = false;
    try {
      ok = statSync(folder).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new UsageError(`${module ? flagOfOption(module, key) : key}: no such folder: ${folder}`);
  }
}

/** One line per source, for --help. */
function sourceList(): string {
  const width = Math.max(...DATA_SOURCES.map((s) => s.name.length));
  return DATA_SOURCES.map((s) => `  ${s.name.padEnd(width)}  ${s.description}`).join("\n");
}

export function datasetCreateCommand(context: CliContext): Command {
  const command = new Command("create")
    .summary("make a dataset from a source (ids per split, class pixel shares)")
    .description(
      "Make a dataset on the worker, one artifact per non-empty split, and print their ids and class pixel shares. Sources:\n" +
        sourceList() +
        "\nEach option says which sources take it ([...]); giving one the chosen source does not take is an error. A spawned " +
        "worker may read only the folders the source names (plus any --data-root). The same parameters give the same ids: a " +
        "second run reuses the artifacts.",
    )
    .addOption(option("--source <name>", `data source (${DATA_SOURCE_NAMES.join(", ")})`, "synthetic-histology"));
  return addExtensionOptions(command, DATA_SOURCES).action(async (_options, cmd: Command) => {
    const { source: name } = parseOptions(datasetCreateOptionsSchema, cmd.opts(), cmd);
    const module = dataSourceModule(name);
    if (!module) throw new UsageError(`--source: must be one of ${DATA_SOURCE_NAMES.join(", ")}`);
    const source = extensionFromCli<DatasetSource>(cmd, module, DATA_SOURCES, "--source");
    const globals = parseGlobalOptions(cmd, context.io.env);
    checkFolders(source);
    const roots = [...globals.dataRoot, ...sourceFolders(source).map((f) => f.folder)];
    const result = await withWorker(context, { ...globals, dataRoot: roots }, ({ client, signal, reporter }) =>
      createDataset(client, source, { signal, reporter }),
    );
    printResult(context.io, globals, result, renderDatasetCreate);
  });
}

export function datasetShowCommand(context: CliContext): Command {
  return new Command("show")
    .summary("print a dataset's metadata (shape, classes, pixel shares, tags, provenance)")
    .description(
      "Print one dataset artifact's metadata: source, split, shape, class names with pixel counts and shares (background " +
        "holds most pixels), image tags where the source has them (PanNuke tissue types, the Kandinsky concept), and what " +
        "made it (provenance). --json prints the same with the full provenance.",
    )
    .argument("<dataset-id>", "dataset id (from dataset create, attack, enhance or a run's results.json)")
    .action(async (id: string, _options, command: Command) => {
      const datasetId = parseOptions(z.object({ id: artifactId("dataset") }), { id }, command).id;
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, async ({ client, signal }): Promise<DatasetShowResult> => {
        const info = await client.getDataset(datasetId, { signal, timeoutMs: 30_000 });
        let provenance: unknown = null;
        try {
          provenance = info.provenanceJson ? JSON.parse(info.provenanceJson) : null;
        } catch {
          provenance = info.provenanceJson;
        }
        return { ...summariseDataset(info), provenance };
      });
      printResult(context.io, globals, result, renderDatasetShow);
    });
}

export interface DatasetShowResult extends DatasetSummary {
  provenance: unknown;
}

function tagsTable(ds: DatasetSummary): string {
  const counts = ds.tagCounts ?? {};
  return renderTable({ head: [ds.tagName ?? "tag", "images"], rows: Object.entries(counts).map(([t, n]) => [t, count(n)]), align: ["left", "right"] });
}

/** The provenance's gist: kind, source or parents, seed, code version, when. */
export function provenanceSummary(provenance: unknown): [string, string][] {
  if (typeof provenance !== "object" || provenance === null) return [];
  const p = provenance as Record<string, unknown>;
  const recipe = (typeof p.recipe === "object" && p.recipe !== null ? p.recipe : {}) as Record<string, unknown>;
  const rows: [string, string][] = [];
  const short = (v: unknown) => {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    return text.length > 100 ? `${text.slice(0, 97)}...` : text;
  };
  if (p.kind !== undefined) rows.push(["made by", String(p.kind)]);
  for (const [k, v] of Object.entries(recipe)) if (!["fingerprint", "loader_version", "generator_version"].includes(k)) rows.push([`  ${k}`, short(v)]);
  const parents = p.parents && typeof p.parents === "object" ? Object.entries(p.parents as Record<string, unknown>) : [];
  for (const [k, v] of parents) rows.push([`parent ${k}`, short(v)]);
  for (const k of ["seed", "code_version", "worker_version", "created_at", "mean_linf", "max_linf"]) if (p[k] !== undefined) rows.push([k.replace("_", " "), short(p[k])]);
  return rows;
}

export function renderDatasetShow(ds: DatasetShowResult): string {
  return renderSections([
    {
      body: renderKeyValues([
        ["dataset", ds.id],
        ["source", ds.source],
        ["split", ds.split],
        ["images", `${count(ds.numImages)} of ${ds.channels}×${ds.height}×${ds.width}`],
        ["classes", `${ds.classNames.length}: ${ds.classNames.join(", ")}`],
      ]),
    },
    {
      title: "class pixel shares",
      body: renderTable({
        head: ["class", "pixels", "share"],
        rows: ds.classNames.map((n, k) => [`${k} ${n}`, count(ds.classPixelCounts[k] ?? 0), percent(ds.classShares[k])]),
        align: ["left", "right", "right"],
      }),
    },
    ...(ds.tagName ? [{ title: `image tags (${ds.tagName})`, body: tagsTable(ds) }] : []),
    ...(provenanceSummary(ds.provenance).length > 0 ? [{ title: "provenance", body: renderKeyValues(provenanceSummary(ds.provenance)) }] : []),
  ]);
}

export function renderDatasetCreate(result: CreateDatasetOutcome): string {
  const { source, datasets } = result;
  const classNames = datasets[0]?.classNames ?? [];
  const tagged = datasets.filter((ds) => ds.tagName);
  return renderSections([
    { body: `${describeSource(source)}: ${result.reused ? "reused from the workspace" : "created"}` },
    {
      body: renderTable({
        head: ["split", "dataset id", "tiles", "size"],
        rows: datasets.map((ds) => [ds.split, ds.id, count(ds.numImages), `${ds.channels}×${ds.height}×${ds.width}`]),
        align: ["left", "left", "right", "right"],
      }),
    },
    {
      title: "class pixel shares",
      body: renderTable({
        head: ["class", ...datasets.map((ds) => ds.split)],
        rows: classNames.map((name, k) => [name, ...datasets.map((ds) => percent(ds.classShares[k]))]),
      }),
    },
    ...(tagged.length > 0
      ? [
          {
            title: `image tags (${tagged[0]?.tagName})`,
            body: renderTable({
              head: [tagged[0]?.tagName ?? "tag", ...tagged.map((ds) => ds.split)],
              rows: [...new Set(tagged.flatMap((ds) => Object.keys(ds.tagCounts ?? {})))].map((t) => [t, ...tagged.map((ds) => count(ds.tagCounts?.[t] ?? 0))]),
            }),
          },
        ]
      : []),
  ]);
}
