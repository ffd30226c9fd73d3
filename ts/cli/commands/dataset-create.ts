// `robustseg dataset create`: generate a dataset (one artifact per split) on the worker.
import { Command } from "commander";
import { z } from "zod";
import { createDataset, type CreateDatasetOutcome } from "../../ops/create-dataset.js";
import { DEMO_PRESET } from "../../ops/demo.js";
import type { CliContext } from "../context.js";
import { count, percent } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { choice, nonNegativeInteger, positiveInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const DATA_SOURCES = ["synthetic-histology"] as const;
const MAX_TILE_SIZE = 4096;
const MAX_TILES = 1_000_000;

export const datasetCreateOptionsSchema = z
  .object({
    source: choice(DATA_SOURCES),
    tileSize: positiveInteger(MAX_TILE_SIZE),
    train: nonNegativeInteger(MAX_TILES),
    validation: nonNegativeInteger(MAX_TILES),
    test: nonNegativeInteger(MAX_TILES),
    seed: nonNegativeInteger(),
  })
  .refine((o) => o.train + o.validation + o.test > 0, { message: "--train, --validation, --test: at least one split needs tiles" });

export type DatasetCreateOptions = z.output<typeof datasetCreateOptionsSchema>;

export function datasetCreateCommand(context: CliContext): Command {
  const d = DEMO_PRESET.dataset;
  return new Command("create")
    .summary("generate a dataset (ids per split, class pixel shares)")
    .description(
      "Generate a dataset on the worker, one artifact per non-empty split, and print their ids and class pixel shares. " +
        "The same parameters give the same ids: a second run reuses the artifacts.",
    )
    .addOption(option("--source <name>", `data source (${DATA_SOURCES.join(", ")})`, "synthetic-histology"))
    .addOption(option("--tile-size <pixels>", "tile height = width in pixels", d.tileSize))
    .addOption(option("--train <tiles>", "tiles in the train split (0: no split)", d.numTrain))
    .addOption(option("--validation <tiles>", "tiles in the validation split (0: no split)", d.numValidation))
    .addOption(option("--test <tiles>", "tiles in the test split (0: no split)", d.numTest))
    .addOption(option("--seed <n>", "generator seed", d.seed))
    .action(async (_options, command: Command) => {
      const options = parseOptions(datasetCreateOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        createDataset(
          client,
          {
            source: options.source,
            tileSize: options.tileSize,
            numTrain: options.train,
            numValidation: options.validation,
            numTest: options.test,
            seed: options.seed,
          },
          { signal, reporter },
        ),
      );
      printResult(context.io, globals, result, renderDatasetCreate);
    });
}

export function renderDatasetCreate(result: CreateDatasetOutcome): string {
  const { source, datasets } = result;
  const classNames = datasets[0]?.classNames ?? [];
  return renderSections([
    {
      body: `${source.source} ${source.tileSize}×${source.tileSize}, seed ${source.seed}: ${result.reused ? "reused from the workspace" : "created"}`,
    },
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
  ]);
}
