// `robustseg train`: train a model of any backend (unet, smp, monai) on the worker; per-epoch
// validation metrics, best epoch. The backends' options come from their modules (ts/backends/).
import { dirname } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { BACKEND_NAMES, backendModule, DEFAULT_BACKEND, MODEL_BACKENDS, type ModelParams, modelFiles } from "../../backends/registry.js";
import { type TrainOutcome, trainModel } from "../../ops/train-model.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../errors.js";
import { addExtensionOptions, extensionFromCli } from "../extension-options.js";
import { count, fixed } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, nonNegativeInteger, positiveInteger, positiveNumber } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderEpochs } from "../render-metrics.js";
import { renderSections } from "../table.js";
import { cliErrorOf, type FieldFlags } from "../worker-fields.js";
import { addDistributedOptions, DISTRIBUTED_FIELD_FLAGS, distributedFromOptions, distributedOptionFields } from "../distributed-options.js";
import { withWorker } from "../worker-session.js";

/** Training defaults of the command line (a spec's are in ts/experiment/spec.ts). */
export const TRAIN_DEFAULTS = { epochs: 15, batchSize: 16, learningRate: 0.005, seed: 0 } as const;

export const trainOptionsSchema = z.object({
  train: z.array(artifactId("dataset"), { error: "required (one or more dataset ids)" }).min(1, "required (one or more dataset ids)"),
  validation: artifactId("dataset"),
  backend: choice(BACKEND_NAMES),
  epochs: positiveInteger(),
  batchSize: positiveInteger(),
  lr: positiveNumber(),
  seed: nonNegativeInteger(),
  augment: z.boolean(),
  ...distributedOptionFields,
});


/** The model's parameters from `train`'s options: the chosen backend's module reads its own. */
export function modelParamsFromCommand(command: Command, backend: string): ModelParams {
  const module = backendModule(backend);
  if (!module) throw new UsageError(`--backend: must be one of ${BACKEND_NAMES.join(", ")}`);
  return extensionFromCli<ModelParams>(command, module, MODEL_BACKENDS, "--backend");
}

/** The fields of a Train request this command sets, as its flags (ts/cli/worker-fields.ts). */
export function trainFieldFlags(backend: string): FieldFlags {
  const module = backendModule(backend);
  return {
    exact: {
      model: "--backend",
      "config.epochs": "--epochs",
      "config.batch_size": "--batch-size",
      "config.learning_rate": "--lr",
      "config.seed": "--seed",
      "config.augment": "--no-augment",
      train_dataset_ids: "--train",
      validation_dataset_id: "--validation",
      ...DISTRIBUTED_FIELD_FLAGS,
    },
    routes: module ? [{ prefix: `model.${module.protoCase}`, module }] : [],
  };
}

/**
 * The worker's INVALID_ARGUMENT about the model or the training config ("model.smp.encoder: ...")
 * as a usage error naming the option as typed ("--encoder: ...") with this command's default;
 * anything else unchanged.
 */
export function optionErrorOf(error: unknown, backend: string, command?: Command): unknown {
  return cliErrorOf(error, trainFieldFlags(backend), command);
}

function backendList(): string {
  const width = Math.max(...MODEL_BACKENDS.map((b) => b.name.length));
  return MODEL_BACKENDS.map((b) => `  ${b.name.padEnd(width)}  ${b.description}`).join("\n");
}

export function trainCommand(context: CliContext): Command {
  const t = TRAIN_DEFAULTS;
  const command = new Command("train")
    .summary("train a model (unet, smp, monai); per-epoch validation table")
    .description(
      "Train a segmentation model on one or more train datasets (concatenated), validating after every epoch; keeps the " +
        "weights of the best validation loss and prints the model id and a per-epoch table. The same request twice reuses the " +
        "model. Backends (robustseg info lists each one's architectures and defaults):\n" +
        backendList() +
        "\nEach backend option says which backends take it ([...]); the worker checks ranges and names the option it refuses.",
    )
    .option("--train <dataset-id...>", "train dataset id(s), required; repeat or list several")
    .option("--validation <dataset-id>", "validation dataset id, required")
    .addOption(option("--backend <name>", `model backend (${BACKEND_NAMES.join(", ")})`, DEFAULT_BACKEND))
    .addOption(option("--epochs <n>", "training epochs", t.epochs))
    .addOption(option("--batch-size <n>", "tiles per step", t.batchSize))
    .addOption(option("--lr <rate>", "Adam learning rate", t.learningRate))
    .addOption(option("--seed <n>", "seed of initialisation, shuffling and augmentation", t.seed))
    .option("--no-augment", "no random flips and 90-degree rotations");
  addDistributedOptions(command, "data-parallel training with DistributedDataParallel: each takes its share of every batch", "the model id");
  return addExtensionOptions(command, MODEL_BACKENDS).action(async (_options, cmd: Command) => {
    const options = parseOptions(trainOptionsSchema, cmd.opts(), cmd);
    const model = modelParamsFromCommand(cmd, options.backend);
    const globals = parseGlobalOptions(cmd, context.io.env);
    // A spawned worker may read the model's files (an smp weights file).
    const roots = [...globals.dataRoot, ...modelFiles(model).map((f) => dirname(f.file))];
    const result = await withWorker(context, { ...globals, dataRoot: roots }, ({ client, signal, reporter }) =>
      trainModel(
        client,
        {
          trainDatasetIds: options.train,
          validationDatasetId: options.validation,
          model,
          training: { epochs: options.epochs, batchSize: options.batchSize, learningRate: options.lr, seed: options.seed, augment: options.augment },
          distributed: distributedFromOptions(options),
        },
        { signal, reporter },
      ).catch((error: unknown) => {
        throw optionErrorOf(error, options.backend, cmd);
      }),
    );
    printResult(context.io, globals, result, renderTrain);
  });
}

export function renderTrain(result: TrainOutcome): string {
  const { model } = result;
  return renderSections([
    { body: `model ${model.id} (${result.reused ? "reused from the workspace" : "trained"})\n${model.description}, ${count(model.numParameters)} parameters` },
    { title: "epochs (* = best validation loss, the weights kept)", body: renderEpochs(model.epochs) },
    { body: `best epoch ${model.bestEpoch}, validation loss ${fixed(model.bestValidationLoss, 4)}` },
  ]);
}
