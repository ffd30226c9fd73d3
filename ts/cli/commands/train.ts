// `robustseg train`: train a U-Net on the worker; per-epoch validation metrics, best epoch.
import { Command } from "commander";
import { z } from "zod";
import { DEMO_PRESET } from "../../ops/demo.js";
import { UPSAMPLING_NAMES } from "../../ops/names.js";
import { type TrainOutcome, trainModel } from "../../ops/train-model.js";
import type { CliContext } from "../context.js";
import { count, fixed } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, nonNegativeInteger, positiveInteger, positiveNumber } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderEpochs } from "../render-metrics.js";
import { renderSections } from "../table.js";
import { withWorker } from "../worker-session.js";

export const trainOptionsSchema = z.object({
  train: z.array(artifactId("dataset"), { error: "required (one or more dataset ids)" }).min(1, "required (one or more dataset ids)"),
  validation: artifactId("dataset"),
  epochs: positiveInteger(100_000),
  batchSize: positiveInteger(65_536),
  lr: positiveNumber(),
  seed: nonNegativeInteger(),
  depth: positiveInteger(8),
  baseWidth: positiveInteger(1024),
  upsampling: choice(UPSAMPLING_NAMES),
  augment: z.boolean(),
});

export type TrainOptions = z.output<typeof trainOptionsSchema>;

export function trainCommand(context: CliContext): Command {
  const t = DEMO_PRESET.training;
  const m = DEMO_PRESET.model;
  return new Command("train")
    .summary("train a U-Net; per-epoch validation table")
    .description(
      "Train a U-Net on one or more train datasets (concatenated), validating after every epoch; keeps the weights " +
        "of the best validation loss and prints the model id and a per-epoch table. The same request twice reuses the model.",
    )
    .option("--train <dataset-id...>", "train dataset id(s), required; repeat or list several")
    .option("--validation <dataset-id>", "validation dataset id, required")
    .addOption(option("--epochs <n>", "training epochs", t.epochs))
    .addOption(option("--batch-size <n>", "tiles per step", t.batchSize))
    .addOption(option("--lr <rate>", "Adam learning rate", t.learningRate))
    .addOption(option("--seed <n>", "seed of initialisation, shuffling and augmentation", t.seed))
    .addOption(option("--depth <n>", "U-Net down-sampling stages (the worker pads tiles to a multiple of 2^depth)", m.depth))
    .addOption(option("--base-width <n>", "channels of the first U-Net stage, doubled per stage", m.baseWidth))
    .addOption(option("--upsampling <mode>", `decoder up-sampling (${UPSAMPLING_NAMES.join(", ")})`, m.upsampling))
    .option("--no-augment", "no random flips and 90-degree rotations")
    .action(async (_options, command: Command) => {
      const options = parseOptions(trainOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        trainModel(
          client,
          {
            trainDatasetIds: options.train,
            validationDatasetId: options.validation,
            model: { architecture: "unet", depth: options.depth, baseWidth: options.baseWidth, upsampling: options.upsampling },
            training: {
              epochs: options.epochs,
              batchSize: options.batchSize,
              learningRate: options.lr,
              seed: options.seed,
              augment: options.augment,
            },
          },
          { signal, reporter },
        ),
      );
      printResult(context.io, globals, result, renderTrain);
    });
}

export function renderTrain(result: TrainOutcome): string {
  const { model } = result;
  const a = model.architecture;
  const arch = a.name === "unet" ? `U-Net depth ${a.depth}, base width ${a.baseWidth}, ${a.upsampling} up-sampling` : a.name;
  return renderSections([
    { body: `model ${model.id} (${result.reused ? "reused from the workspace" : "trained"})\n${arch}, ${count(model.numParameters)} parameters` },
    { title: "epochs (* = best validation loss, the weights kept)", body: renderEpochs(model.epochs) },
    { body: `best epoch ${model.bestEpoch}, validation loss ${fixed(model.bestValidationLoss, 4)}` },
  ]);
}
