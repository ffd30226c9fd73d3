// `robustseg evaluate`: a model on a dataset; metrics from the worker's confusion matrix.
import { Command } from "commander";
import { z } from "zod";
import { evaluateModel, type EvaluateOutcome } from "../../ops/evaluate-model.js";
import type { CliContext } from "../context.js";
import { count, fixed, percent } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, nonNegativeInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderPerClass } from "../render-metrics.js";
import { renderKeyValues, renderSections } from "../table.js";
import { withWorker } from "../worker-session.js";

export const evaluateOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  batchSize: nonNegativeInteger(65_536),
});

export function evaluateCommand(context: CliContext): Command {
  return new Command("evaluate")
    .summary("evaluate a model on a dataset; metrics table")
    .description(
      "Evaluate a model on a dataset: pixel accuracy, foreground accuracy, mIoU, mean Dice, mean loss and per-class IoU/Dice, " +
        "all from the confusion matrix accumulated over the whole dataset.",
    )
    .option("--model <model-id>", "model id, required")
    .option("--dataset <dataset-id>", "dataset id, required")
    .addOption(option("--batch-size <n>", "tiles per forward pass (0: the worker's default)", 0))
    .action(async (_options, command: Command) => {
      const options = parseOptions(evaluateOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        evaluateModel(client, { modelId: options.model, datasetId: options.dataset, batchSize: options.batchSize }, { signal, reporter }),
      );
      printResult(context.io, globals, result, renderEvaluate);
    });
}

export function renderEvaluate(result: EvaluateOutcome): string {
  const m = result.metrics;
  return renderSections([
    { body: `model ${result.modelId} on dataset ${result.datasetId}: ${count(result.numImages)} tiles, ${count(result.numPixels)} pixels` },
    {
      body: renderKeyValues([
        ["pixel accuracy", percent(m.pixelAccuracy)],
        ["foreground accuracy", percent(m.foregroundAccuracy)],
        ["mIoU", `${fixed(m.meanIoU)} (over ${m.definedClasses} class${m.definedClasses === 1 ? "" : "es"})`],
        ["mean Dice", fixed(m.meanDice)],
        ["mean loss", fixed(m.meanLoss, 4)],
      ]),
    },
    { title: "per class", body: renderPerClass([{ predictor: "model", metrics: m }]) },
  ]);
}
