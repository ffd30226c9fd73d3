// `robustseg sweep`: one model evaluated under one attack at a list of ε values; prints the
// robustness curve (pixel accuracy, foreground accuracy, mIoU, mean loss, foreground → background).
import { Command } from "commander";
import { z } from "zod";
import { ATTACK_METHODS, parseAttackTarget } from "../../ops/attacks.js";
import { parseEpsilons, runSweep, SWEEP_TABLE_HEAD, type SweepOutcome, sweepTableRows } from "../../ops/sweep.js";
import type { CliContext } from "../context.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, nonNegativeInteger, positiveInteger, positiveNumber } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const sweepOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  attack: choice(ATTACK_METHODS),
  epsilons: z.string({ error: "required (e.g. 0,0.005,0.01,0.02)" }).transform((v, ctx) => {
    try {
      return parseEpsilons(v);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^epsilons: /, "") });
      return z.NEVER;
    }
  }),
  steps: positiveInteger(100_000),
  stepSize: positiveNumber().optional(),
  target: z.string().transform((v, ctx) => {
    try {
      return parseAttackTarget(v);
    } catch {
      ctx.addIssue({ code: "custom", message: `must be untargeted, a class name or a class index, got ${v}` });
      return z.NEVER;
    }
  }),
  randomStart: z.boolean().default(false),
  attackSeed: nonNegativeInteger(),
  attackModel: artifactId("model").optional(),
  batchSize: nonNegativeInteger(65_536),
});

export function sweepCommand(context: CliContext): Command {
  return new Command("sweep")
    .summary("robustness curve: evaluate a model under an attack at several ε")
    .description(
      "Evaluate a model on a dataset under one attack at each ε of a list and print the robustness curve: pixel accuracy, " +
        "foreground accuracy, mIoU, mean loss and the share of foreground pixels predicted as background (the success of a " +
        "background-targeted attack) against ε. ε = 0 is the clean evaluation. White-box by default; --attack-model computes " +
        "the attack against another model (transfer).",
    )
    .option("--model <model-id>", "model id, required")
    .option("--dataset <dataset-id>", "dataset id, required")
    .addOption(option("--attack <method>", `attack (${ATTACK_METHODS.join(", ")})`, "pgd"))
    .option("--epsilons <list>", "comma-separated ε values in [0, 1], e.g. 0,0.005,0.01,0.02 (required)")
    .addOption(option("--steps <n>", "iterations (PGD family; FGSM ignores it)", 10))
    .option("--step-size <alpha>", "step size (default 2.5·ε/steps at each ε)")
    .addOption(option("--target <target>", "background, a class name or index (full-area targeted), or untargeted", "background"))
    .option("--random-start", "start from a random point in the ε-ball")
    .addOption(option("--attack-seed <n>", "seed of the random start", 0))
    .option("--attack-model <model-id>", "compute the attack against this model (transfer); default: the evaluated model")
    .addOption(option("--batch-size <n>", "tiles per forward pass (0: the worker's default)", 0))
    .action(async (_options, cmd: Command) => {
      const o = parseOptions(sweepOptionsSchema, cmd.opts(), cmd);
      const globals = parseGlobalOptions(cmd, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        runSweep(
          client,
          {
            modelId: o.model,
            datasetId: o.dataset,
            attack: { method: o.attack, steps: o.steps, stepSize: o.stepSize, randomStart: o.randomStart, seed: o.attackSeed, target: o.target },
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
