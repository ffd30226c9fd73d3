// `robustseg attack`: attack every image of a dataset against a model into a new dataset artifact.
import { Command } from "commander";
import { z } from "zod";
import { ATTACK_METHODS, describeAttack } from "../../attacks/registry.js";
import { attackDataset, type AttackDatasetOutcome } from "../../ops/attack-dataset.js";
import { addAttackOptions, attackFieldRoutes, attackList, attackParamsFromCommand } from "../attack-options.js";
import type { CliContext } from "../context.js";
import { count, fraction } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, nonNegativeInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderKeyValues, renderSections, renderTable } from "../table.js";
import { cliErrorOf } from "../worker-fields.js";
import { addDistributedOptions, DISTRIBUTED_FIELD_FLAGS, distributedFromOptions, distributedOptionFields } from "../distributed-options.js";
import { withWorker } from "../worker-session.js";

export const attackOptionsCommandSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  method: choice(ATTACK_METHODS),
  batchSize: nonNegativeInteger(),
  ...distributedOptionFields,
});

export function attackCommand(context: CliContext): Command {
  const command = new Command("attack")
    .summary("attack a dataset against a model into a new dataset (FGSM, PGD, SegPGD, CosPGD, layered PGD)")
    .description(
      "Attack every image of a dataset against a model and store the result as a new dataset artifact with the same labels; " +
        "prints its id and the L∞ distance to the clean images. The same request twice reuses the artifact. Attacks:\n" +
        attackList(),
    )
    .option("--model <model-id>", "model the attack is computed against, required")
    .option("--dataset <dataset-id>", "dataset to attack, required")
    .addOption(option("--method <method>", `attack (${ATTACK_METHODS.join(", ")})`, "pgd"))
    .addOption(option("--batch-size <n>", "tiles per batch (0: the worker's default)", 0));
  addDistributedOptions(command, "each takes whole batches of the images; the artifact equals one process's", "a digest of the request, the same on every node");
  return addAttackOptions(command).action(async (_options, cmd: Command) => {
    const o = parseOptions(attackOptionsCommandSchema, cmd.opts(), cmd);
    const attack = attackParamsFromCommand(cmd, o.method, "--method");
    const globals = parseGlobalOptions(cmd, context.io.env);
    const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
      attackDataset(client, { modelId: o.model, datasetId: o.dataset, attack, batchSize: o.batchSize, distributed: distributedFromOptions(o) }, { signal, reporter }),
    ).catch((error: unknown) => {
      throw cliErrorOf(error, { exact: { batch_size: "--batch-size", model_id: "--model", dataset_id: "--dataset", ...DISTRIBUTED_FIELD_FLAGS }, routes: attackFieldRoutes(o.method) }, cmd);
    });
    printResult(context.io, globals, result, renderAttack);
  });
}

export function renderAttack(r: AttackDatasetOutcome): string {
  const d = r.dataset;
  return renderSections([
    {
      body: renderKeyValues([
        ["dataset", `${d.id} (${r.reused ? "reused from the workspace" : "created"})`],
        ["attack", `${describeAttack(r.params.attack, d.classNames)} against ${r.params.modelId}`],
        ["from", r.params.datasetId],
        ["images", `${count(d.numImages)} of ${d.channels}×${d.height}×${d.width}`],
        ["L∞ distance", `mean ${r.meanLinf.toFixed(5)}, max ${r.maxLinf.toFixed(5)}`],
      ]),
    },
    { title: "class pixel shares (labels)", body: renderTable({ head: ["class", "share"], rows: d.classNames.map((n, k) => [n, fraction(d.classShares[k])]) }) },
  ]);
}
