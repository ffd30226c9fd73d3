// `robustseg enhance`: method two on a dataset (choose a sign vector per image, record it, build).
import { Command } from "commander";
import { z } from "zod";
import { type EnhanceOutcome, enhanceDataset } from "../../ops/enhance-dataset.js";
import { formatSelectionAggregate } from "../../selection/record.js";
import { DEFAULT_SELECTION_STRATEGY, parseStrategy, strategyLabel } from "../../selection/strategies.js";
import type { CliContext } from "../context.js";
import { count } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, outputFolder, positiveNumber } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderKeyValues, renderSections } from "../table.js";
import { cliErrorOf } from "../worker-fields.js";
import { addDistributedOptions, DISTRIBUTED_FIELD_FLAGS, distributedFromOptions, distributedOptionFields } from "../distributed-options.js";
import { withWorker } from "../worker-session.js";

export const strategyOption = () =>
  z.string().transform((v, ctx) => {
    try {
      return parseStrategy(v);
    } catch {
      ctx.addIssue({ code: "custom", message: `must be exhaustive, greedy, beam:K, surrogate or surrogate:B, got ${v}` });
      return z.NEVER;
    }
  });

export const enhanceOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  strategy: strategyOption(),
  epsilon: positiveNumber(),
  project: z.boolean().default(false),
  out: outputFolder(),
  ...distributedOptionFields,
});

export function enhanceCommand(context: CliContext): Command {
  const command = new Command("enhance")
    .summary("method two on a dataset: choose FGSM directions per image, record, build the dataset")
    .description(
      "Method two (paper Formulas 3-5): for every image, the per-class FGSM directions a_c at the clean image and the sign vector " +
        "s ∈ {-1,0,+1}^C minimising the loss with the true labels (s = 0 included; ties to fewer non-zero signs), chosen by the " +
        "strategy (exhaustive: all 3^C; greedy: coordinate descent from 0; beam:K; surrogate: logit-additive estimates, exact scoring of the best-estimated). Writes the per-image record " +
        "(method-two-choices.jsonl) and its aggregate (method-two-aggregate.json) to --out, builds the dataset on the worker and prints its id.",
    )
    .option("--model <model-id>", "model, required")
    .option("--dataset <dataset-id>", "dataset, required")
    .addOption(option("--strategy <strategy>", "exhaustive, greedy, beam:K, surrogate or surrogate:B", strategyLabel(DEFAULT_SELECTION_STRATEGY)))
    .addOption(option("--epsilon <eps>", "ε of the FGSM directions", 0.01))
    .option("--project", "also project x_s onto the ε-ball around x")
    .addOption(option("--out <dir>", "folder for the record and the aggregate", "runs/enhance"));
  addDistributedOptions(command, "scoring shares the images, building whole batches; the same choice and dataset as one process", "a digest of the request, the same on every node");
  return command.action(async (_options, cmd: Command) => {
      const o = parseOptions(enhanceOptionsSchema, cmd.opts(), cmd);
      const globals = parseGlobalOptions(cmd, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        enhanceDataset(
          client,
          { modelId: o.model, datasetId: o.dataset, strategy: o.strategy, epsilon: o.epsilon, project: o.project, outDir: o.out, distributed: distributedFromOptions(o) },
          { signal, reporter },
        ),
      ).catch((error: unknown) => {
        throw cliErrorOf(error, { exact: { epsilon: "--epsilon", model_id: "--model", dataset_id: "--dataset", ...DISTRIBUTED_FIELD_FLAGS } }, cmd);
      });
      printResult(context.io, globals, result, renderEnhance);
    });
}

export function renderEnhance(r: EnhanceOutcome): string {
  return renderSections([
    {
      body: renderKeyValues([
        ["dataset", `${r.dataset.id} (${r.reused ? "reused from the workspace" : "created"}), ${count(r.dataset.numImages)} images`],
        ["strategy", `${r.choice.strategy}, ε = ${r.choice.params.epsilon}${r.choice.params.project ? ", projected" : ""}`],
        ["scored", `${count(r.choice.candidatesScored)} candidates in ${count(r.choice.scorerCalls)} calls`],
        ["L∞ distance", `mean ${r.meanLinf.toFixed(5)}, max ${r.maxLinf.toFixed(5)}`],
        ["record", r.recordFile ?? "-"],
        ["aggregate", r.aggregateFile ?? "-"],
      ]),
    },
    { title: "choices per class", body: formatSelectionAggregate(r.choice.aggregate) },
  ]);
}
