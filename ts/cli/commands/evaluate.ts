// `robustseg evaluate`: a model on a dataset; metrics from the worker's confusion matrix.
import { Command } from "commander";
import { z } from "zod";
import { evaluateModel, type EvaluateOutcome } from "../../ops/evaluate-model.js";
import type { CliContext } from "../context.js";
import { count, fixed, fraction } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { foregroundToBackground } from "../../metrics/segmentation-metrics.js";
import { ATTACK_METHODS, ATTACKS, type AttackParams, attackSpec, describeAttack } from "../../attacks/registry.js";
import { addAttackOptions, attackFieldRoutes, attackList, attackParamsFromCommand } from "../attack-options.js";
import { cliErrorOf } from "../worker-fields.js";
import { addDistributedOptions, DISTRIBUTED_FIELD_FLAGS, distributedFromOptions, distributedOptionFields } from "../distributed-options.js";
import { UsageError } from "../errors.js";
import { artifactId, choice, nonNegativeInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { flagOf, option, parseOptions } from "../parse-options.js";
import { renderPerClass } from "../render-metrics.js";
import { renderKeyValues, renderSections } from "../table.js";
import { withWorker } from "../worker-session.js";

export const evaluateOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  batchSize: nonNegativeInteger(),
  attack: choice(ATTACK_METHODS).optional(),
  attackModel: artifactId("model").optional(),
  ...distributedOptionFields,
});

export interface EvaluateCommandResult extends EvaluateOutcome {
  attack: AttackParams | null;
  /** The model the attack was computed against (white-box: the model itself). */
  attackModelId: string | null;
  /** Share of foreground pixels predicted as background. */
  foregroundToBackground: number | null;
}

export function evaluateCommand(context: CliContext): Command {
  const command = new Command("evaluate")
    .summary("evaluate a model on a dataset; metrics table")
    .description(
      "Evaluate a model on a dataset: pixel accuracy, foreground accuracy, mIoU, mean Dice, mean loss and per-class IoU/Dice, " +
        "all from the confusion matrix accumulated over the whole dataset. With --attack, under that attack computed on the fly " +
        "per batch (white-box, or transfer with --attack-model). Attacks:\n" +
        attackList(),
    )
    .option("--model <model-id>", "model id, required")
    .option("--dataset <dataset-id>", "dataset id, required")
    .addOption(option("--batch-size <n>", "tiles per forward pass (0: the worker's default)", 0))
    .option("--attack <method>", `evaluate under this attack computed on the fly (${ATTACK_METHODS.join(", ")}); default: clean`)
    .option("--attack-model <model-id>", "compute the attack against this model (transfer); default: the evaluated model (white-box)");
  addDistributedOptions(command, "each takes whole batches; their counts are summed into one process's", "a digest of the request, the same on every node");
  return addAttackOptions(command).action(async (_options, cmd: Command) => {
    const options = parseOptions(evaluateOptionsSchema, cmd.opts(), cmd);
    const globals = parseGlobalOptions(cmd, context.io.env);
    if (!options.attack) {
      const given = ["attackModel", ...ATTACKS.flatMap((a) => Object.keys(a.cliOptions))].find((k) => cmd.getOptionValueSource(k) === "cli");
      if (given) throw new UsageError(`${flagOf(cmd, given)}: needs --attack`);
    }
    const attack = options.attack ? attackParamsFromCommand(cmd, options.attack, "--attack") : null;
    const result = await withWorker(context, globals, async ({ client, signal, reporter }): Promise<EvaluateCommandResult> => {
      const classNames = attack ? (await client.getModel(options.model, { signal, timeoutMs: 30_000 })).classNames : [];
      const out = await evaluateModel(
        client,
        {
          modelId: options.model,
          datasetId: options.dataset,
          batchSize: options.batchSize,
          attack: attack ? attackSpec(attack, classNames) : undefined,
          attackModelId: options.attackModel,
          distributed: distributedFromOptions(options),
        },
        { signal, reporter },
      );
      return {
        ...out,
        attack,
        attackModelId: attack ? (options.attackModel ?? options.model) : null,
        foregroundToBackground: foregroundToBackground(out.confusion),
      };
    }).catch((error: unknown) => {
      throw cliErrorOf(error, {
        exact: { batch_size: "--batch-size", model_id: "--model", dataset_id: "--dataset", attack_model_id: "--attack-model", ...DISTRIBUTED_FIELD_FLAGS },
        routes: options.attack ? attackFieldRoutes(options.attack) : [],
      }, cmd);
    });
    printResult(context.io, globals, result, renderEvaluate);
  });
}

export function renderEvaluate(result: EvaluateCommandResult): string {
  const m = result.metrics;
  const under = result.attack
    ? `\nunder ${describeAttack(result.attack, result.classNames)}, ${result.attackModelId === result.modelId ? "white-box" : `transfer from ${result.attackModelId}`}`
    : "";
  return renderSections([
    { body: `model ${result.modelId} on dataset ${result.datasetId}: ${count(result.numImages)} tiles, ${count(result.numPixels)} pixels${under}` },
    {
      body: renderKeyValues([
        ["pixel accuracy", fraction(m.pixelAccuracy)],
        ["foreground accuracy", fraction(m.foregroundAccuracy)],
        ["mIoU", `${fraction(m.meanIoU)} (over ${m.definedClasses} class${m.definedClasses === 1 ? "" : "es"})`],
        ["mean Dice", fraction(m.meanDice)],
        ["mean loss", fixed(m.meanLoss, 4)],
        ...(result.attack ? [["foreground → background", fraction(result.foregroundToBackground)] as [string, string]] : []),
      ]),
    },
    { title: "per class", body: renderPerClass([{ predictor: "model", metrics: m }]) },
  ]);
}
