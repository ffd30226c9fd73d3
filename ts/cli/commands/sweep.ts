// `robustseg sweep`: one model evaluated under one attack at a list of ε values; prints the
// robustness curve (pixel accuracy, foreground accuracy, mIoU, mean loss, foreground → background).
import { Command } from "commander";
import { z } from "zod";
import { GRADIENT_ATTACKS, GRADIENT_METHODS, type GradientAttackParams } from "../../attacks/registry.js";
import { parseEpsilons, runSweep, SWEEP_TABLE_HEAD, type SweepOutcome, sweepTableRows } from "../../ops/sweep.js";
import type { CliContext } from "../context.js";
import { parseGlobalOptions } from "../global-options.js";
import { addAttackOptions, attackList, attackParamsFromCommand } from "../attack-options.js";
import { artifactId, choice, nonNegativeInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const sweepOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  attack: choice(GRADIENT_METHODS),
  epsilons: z.string({ error: "required (e.g. 0,0.005,0.01,0.02)" }).transform((v, ctx) => {
    try {
      return parseEpsilons(v);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^epsilons: /, "") });
      return z.NEVER;
    }
  }),
  attackModel: artifactId("model").optional(),
  batchSize: nonNegativeInteger(),
});

export function sweepCommand(context: CliContext): Command {
  const command = new Command("sweep")
    .summary("robustness curve: evaluate a model under an attack at several ε")
    .description(
      "Evaluate a model on a dataset under one attack at each ε of a list and print the robustness curve: pixel accuracy, " +
        "foreground accuracy, mIoU, mean loss and the share of foreground pixels predicted as background (the success of a " +
        "background-targeted attack) against ε. ε = 0 is the clean evaluation. White-box by default; --attack-model computes " +
        "the attack against another model (transfer). Attacks:\n" +
        attackList(GRADIENT_ATTACKS),
    )
    .option("--model <model-id>", "model id, required")
    .option("--dataset <dataset-id>", "dataset id, required")
    .addOption(option("--attack <method>", `attack (${GRADIENT_METHODS.join(", ")})`, "pgd"))
    .option("--epsilons <list>", "comma-separated ε values in [0, 1], e.g. 0,0.005,0.01,0.02 (required)")
    .option("--attack-model <model-id>", "compute the attack against this model (transfer); default: the evaluated model")
    .addOption(option("--batch-size <n>", "tiles per forward pass (0: the worker's default)", 0));
  return addAttackOptions(command, GRADIENT_ATTACKS, ["epsilon"]).action(async (_options, cmd: Command) => {
      const o = parseOptions(sweepOptionsSchema, cmd.opts(), cmd);
      const { epsilon: _unused, ...attack } = attackParamsFromCommand(cmd, o.attack, "--attack", GRADIENT_ATTACKS, ["epsilon"]) as GradientAttackParams;
      const globals = parseGlobalOptions(cmd, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        runSweep(
          client,
          {
            modelId: o.model,
            datasetId: o.dataset,
            attack,
            epsilons: o.epsilons,
            attackModelId: o.attackModel,
            batchSize: o.batchSize,
          },
          { signal, reporter },
        ),
      );
      printResult(context.io, globals, result, renderSweep);
    });
}

export function renderSweep(r: SweepOutcome): string {
  const a = r.attack;
  const target = a.target === "untargeted" ? "untargeted" : `target ${typeof a.target.class === "number" ? (r.classNames[a.target.class] ?? a.target.class) : a.target.class}`;
  const how = r.protocol === "white-box" ? "white-box" : `transfer from ${r.attackModelId}`;
  return renderSections([
    {
      body: `model ${r.modelId} on dataset ${r.datasetId}: ${a.method.toUpperCase()}${a.method === "fgsm" ? "" : ` ${a.steps} steps`}, ${target}, ${how}`,
    },
    { body: renderTable({ head: SWEEP_TABLE_HEAD, rows: sweepTableRows(r.points) }) },
  ]);
}
