// `robustseg dataset create`: a dataset (one artifact per split) on the worker, from any source:
// synthetic-histology, kandinsky, pannuke (fold folders), folder (images/ + masks/ PNGs).
// `robustseg dataset show ID`: one dataset's metadata, class pixel shares, tags and provenance.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import {
  createDataset,
  type CreateDatasetOutcome,
  DATASET_SOURCES,
  type DatasetSource,
  type DatasetSummary,
  describeSource,
  FITS,
  KANDINSKY_LABELINGS,
  sourcePaths,
  summariseDataset,
} from "../../ops/create-dataset.js";
import { DEMO_PRESET } from "../../ops/demo.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { count, percent } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, nonNegativeInteger, positiveInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderKeyValues, renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const DATA_SOURCES = DATASET_SOURCES;
const MAX_TILE_SIZE = 4096;
const MAX_TILES = 1_000_000;

const fractionOption = () =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const n = Number(String(value).trim());
    if (String(value).trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) {
      ctx.addIssue({ code: "custom", message: `must be a number in [0, 1], got ${value}` });
      return z.NEVER;
    }
    return n;
  });
const pathOption = () => z.string().trim().min(1, "must not be empty");

export const datasetCreateOptionsSchema = z
  .object({
    source: choice(DATA_SOURCES),
    tileSize: positiveInteger(MAX_TILE_SIZE).optional(),
    train: nonNegativeInteger(MAX_TILES),
    validation: nonNegativeInteger(MAX_TILES),
    test: nonNegativeInteger(MAX_TILES),
    seed: nonNegativeInteger(),
    // kandinsky
    labeling: choice(KANDINSKY_LABELINGS).optional(),
    concept: z.string().trim().min(1, "must not be empty").optional(),
    minObjects: positiveInteger(64).optional(),
    maxObjects: positiveInteger(64).optional(),
    // pannuke and folder
    path: pathOption().optional(),
    trainFolds: z.array(pathOption()).optional(),
    validationFolds: z.array(pathOption()).optional(),
    testFolds: z.array(pathOption()).optional(),
    fit: choice(FITS).optional(),
    maxImages: positiveInteger().optional(),
    validationFraction: fractionOption().optional(),
    testFraction: fractionOption().optional(),
    trainPath: pathOption().optional(),
    validationPath: pathOption().optional(),
    testPath: pathOption().optional(),
    classNames: z
      .string()
      .transform((v) => v.split(",").map((n) => n.trim()))
      .refine((names) => names.length >= 2 && names.every((n) => n !== ""), "must be at least two comma-separated names (background first)")
      .optional(),
  })
  .refine((o) => !(o.source === "synthetic-histology" || o.source === "kandinsky") || o.train + o.validation + o.test > 0, {
    message: "--train, --validation, --test: at least one split needs tiles",
  });

export type DatasetCreateOptions = z.output<typeof datasetCreateOptionsSchema>;

/** The source the options describe; relative paths resolve against the current directory. */
export function sourceFromOptions(o: DatasetCreateOptions): DatasetSource {
  const generated = { numTrain: o.train, numValidation: o.validation, numTest: o.test, seed: o.seed };
  switch (o.source) {
    case "synthetic-histology":
      return { source: o.source, tileSize: o.tileSize ?? DEMO_PRESET.dataset.tileSize, ...generated };
    case "kandinsky":
      if (o.minObjects !== undefined && o.maxObjects !== undefined && o.minObjects > o.maxObjects) {
        throw new UsageError(`--min-objects: must be at most --max-objects (${o.maxObjects})`);
      }
      return {
        source: o.source,
        tileSize: o.tileSize ?? 64,
        ...generated,
        labeling: o.labeling ?? "shape",
        concept: o.concept,
        minObjects: o.minObjects,
        maxObjects: o.maxObjects,
      };
    case "pannuke": {
      const base = o.path ? resolve(o.path) : process.cwd();
      const folds = (v: string[] | undefined, dflt: string[]) => (v ?? (o.path ? dflt : [])).map((f) => resolve(base, f));
      const source = {
        source: o.source,
        trainFolds: folds(o.trainFolds, ["Fold 1"]),
        validationFolds: folds(o.validationFolds, ["Fold 2"]),
        testFolds: folds(o.testFolds, ["Fold 3"]),
        tileSize: o.tileSize,
        fit: o.fit,
        maxImagesPerSplit: o.maxImages,
      } as const;
      if (source.trainFolds.length + source.validationFolds.length + source.testFolds.length === 0) {
        throw new UsageError("--path: give the folder of the folds (Fold 1/2/3 below it), or --train-fold/--validation-fold/--test-fold");
      }
      return source;
    }
    case "folder": {
      const perSplit = o.trainPath || o.validationPath || o.testPath;
      if (o.path && perSplit) throw new UsageError("--path: give either --path (split by fractions) or --train-path/--validation-path/--test-path");
      if (!o.path && !perSplit) throw new UsageError("--path: required (a folder with images/ and masks/), or --train-path/--validation-path/--test-path");
      const common = { seed: o.seed, classNames: o.classNames, tileSize: o.tileSize, fit: o.fit };
      return o.path
        ? { source: o.source, path: resolve(o.path), validationFraction: o.validationFraction ?? 0, testFraction: o.testFraction ?? 0, ...common }
        : {
            source: o.source,
            trainPath: o.trainPath && resolve(o.trainPath),
            validationPath: o.validationPath && resolve(o.validationPath),
            testPath: o.testPath && resolve(o.testPath),
            ...common,
          };
    }
  }
}

/** Every folder a source names exists (the message names the option). */
function checkFolders(source: DatasetSource): void {
  for (const folder of sourcePaths(source)) {
    let ok = false;
    try {
      ok = statSync(folder).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new UsageError(`${source.source === "pannuke" ? "--path / folds" : "--path"}: no such folder: ${folder}`);
  }
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function datasetCreateCommand(context: CliContext): Command {
  const d = DEMO_PRESET.dataset;
  return new Command("create")
    .summary("make a dataset from a source (ids per split, class pixel shares)")
    .description(
      "Make a dataset on the worker, one artifact per non-empty split, and print their ids and class pixel shares. Sources:\n" +
        "  synthetic-histology  H&E-like tiles (--tile-size, --train/--validation/--test, --seed)\n" +
        "  kandinsky            Kandinsky Patterns (same options plus --labeling, --concept, --min-objects, --max-objects)\n" +
        "  pannuke              PanNuke folds: --path DIR with Fold 1/2/3 below it (train/validation/test), or --train-fold, " +
        "--validation-fold, --test-fold (repeatable); --tile-size with --fit crop|resize, --max-images per split\n" +
        "  folder               images/NAME.png + masks/NAME.png: --path DIR split by --validation-fraction/--test-fraction " +
        "(seeded), or --train-path/--validation-path/--test-path; --class-names a,b,c (else classes.json); --tile-size/--fit\n" +
        "A spawned worker may read only the folders the source names (plus any --data-root). The same parameters give the same " +
        "ids: a second run reuses the artifacts.",
    )
    .addOption(option("--source <name>", `data source (${DATA_SOURCES.join(", ")})`, "synthetic-histology"))
    .option("--tile-size <pixels>", `tile height = width (generated sources: default ${d.tileSize}; files: default native size)`)
    .addOption(option("--train <tiles>", "generated sources: tiles in the train split (0: no split)", d.numTrain))
    .addOption(option("--validation <tiles>", "generated sources: tiles in the validation split (0: no split)", d.numValidation))
    .addOption(option("--test <tiles>", "generated sources: tiles in the test split (0: no split)", d.numTest))
    .addOption(option("--seed <n>", "generator seed; folder: the seed of the split", d.seed))
    .option("--labeling <labels>", `kandinsky: classes by ${KANDINSKY_LABELINGS.join(", ")} (default shape)`)
    .option("--concept <text>", 'kandinsky: the image-level concept, e.g. "contains a red object" (default)')
    .option("--min-objects <n>", "kandinsky: fewest objects per figure")
    .option("--max-objects <n>", "kandinsky: most objects per figure")
    .option("--path <dir>", "folder: the folder (images/, masks/); pannuke: the folder holding the folds")
    .option("--train-fold <dir>", 'pannuke: a train fold folder, relative to --path (repeatable; default "Fold 1")', collect)
    .option("--validation-fold <dir>", 'pannuke: a validation fold (repeatable; default "Fold 2")', collect)
    .option("--test-fold <dir>", 'pannuke: a test fold (repeatable; default "Fold 3")', collect)
    .option("--fit <how>", `files: fit tiles of another size to --tile-size (${FITS.join(", ")})`)
    .option("--max-images <n>", "pannuke: at most N images per split (the first N of its folds)")
    .option("--validation-fraction <f>", "folder: share of the images drawn for validation (default 0)")
    .option("--test-fraction <f>", "folder: share of the images drawn for test (default 0)")
    .option("--train-path <dir>", "folder: the train split's folder (instead of --path)")
    .option("--validation-path <dir>", "folder: the validation split's folder")
    .option("--test-path <dir>", "folder: the test split's folder")
    .option("--class-names <names>", "folder: class names, comma-separated, background first (default: classes.json)")
    .action(async (_options, command: Command) => {
      const raw = command.opts();
      const options = parseOptions(
        datasetCreateOptionsSchema,
        { ...raw, trainFolds: raw.trainFold, validationFolds: raw.validationFold, testFolds: raw.testFold },
        command,
      );
      const globals = parseGlobalOptions(command, context.io.env);
      const source = sourceFromOptions(options);
      checkFolders(source);
      const roots = [...globals.dataRoot, ...sourcePaths(source)];
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
