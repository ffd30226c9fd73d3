// `robustseg compare-selection`: greedy and beam against exhaustive on the same images.
import { Command } from "commander";
import { z } from "zod";
import { compareSelection, type CompareSelectionOutcome } from "../../ops/compare-selection.js";
import { parseStrategy, type SelectionStrategy } from "../../selection/strategies.js";
import type { CliContext } from "../context.js";
import { count, fixed, fraction } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, positiveInteger, positiveNumber } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { withWorker } from "../worker-session.js";

export const compareSelectionOptionsSchema = z.object({
  model: artifactId("model"),
  dataset: artifactId("dataset"),
  images: positiveInteger().optional(),
  strategies: z.string().transform((v, ctx) => {
    const out: SelectionStrategy[] = [];
    for (const part of v.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
      try {
        const s = parseStrategy(part);
        if (s.kind === "exhaustive") continue; // always run as the reference
        out.push(s);
      } catch {
        ctx.addIssue({ code: "custom", message: `unknown strategy ${part}: expected greedy, greedy(N), beam:K, surrogate or surrogate:B` });
        return z.NEVER;
      }
    }
    if (out.length === 0) {
      ctx.addIssue({ code: "custom", message: "needs at least one strategy besides exhaustive" });
      return z.NEVER;
    }
    return out;
  }),
  epsilon: positiveNumber(),
  project: z.boolean().default(false),
});

export function compareSelectionCommand(context: CliContext): Command {
  return new Command("compare-selection")
    .summary("greedy, beam and surrogate vs exhaustive method-two selection on the same images")
    .description(
      "Score all 3^C method-two candidates of the first N images of a dataset on the worker (exhaustive, the paper's method), " +
        "replay greedy, beam and surrogate on the very same losses (the surrogate's estimates come from the worker), and print per " +
        "strategy: the share of images where it finds the optimum, the mean and largest loss gap to it, the share of exhaustive's " +
        "loss reduction it captures, and the candidates it scores (the surrogate also estimates candidates it does not score).",
    )
    .option("--model <model-id>", "model, required")
    .option("--dataset <dataset-id>", "dataset, required")
    .option("--images <n>", "the first N images (default: all)")
    .addOption(option("--strategies <list>", "comma-separated: greedy, greedy(N), beam:K, surrogate, surrogate:B (budget B)", "greedy,beam:3,beam:9,surrogate"))
    .addOption(option("--epsilon <eps>", "ε of the FGSM directions", 0.01))
    .option("--project", "also project x_s onto the ε-ball around x")
    .action(async (_options, command: Command) => {
      const o = parseOptions(compareSelectionOptionsSchema, command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
        compareSelection(
          client,
          { modelId: o.model, datasetId: o.dataset, images: o.images, strategies: o.strategies, epsilon: o.epsilon, project: o.project },
          { signal, reporter },
        ),
      );
      printResult(context.io, globals, result, renderCompareSelection);
    });
}

export function renderCompareSelection(r: CompareSelectionOutcome): string {
  const c = r.comparison;
  const e = c.exhaustive;
  return renderSections([
    {
      body:
        `${count(c.images)} images of ${r.datasetId}, model ${r.modelId}, ε = ${r.epsilon}; exhaustive scores ${count(c.exhaustiveCandidates)} candidates per image\n` +
        `exhaustive: mean clean loss ${fixed(e.meanCleanLoss, 4)}, chosen ${fixed(e.meanChosenLoss, 4)}, reduction ${fixed(e.meanLossReduction, 4)}; ` +
        `${count(e.imagesChanged)} images changed (${fixed(r.seconds.exhaustive ?? null, 1)} s)`,
    },
    {
      body: renderTable({
        head: ["strategy", "optimum found", "same s*", "mean loss gap", "max loss gap", "reduction captured", "candidates/image", "share of 3^C", "estimated/image"],
        rows: c.strategies.map((s) => [
          s.strategy,
          fraction(s.optimumShare),
          fraction(s.sameSignsShare),
          fixed(s.meanLossGap, 5),
          fixed(s.maxLossGap, 5),
          fraction(s.reductionCaptured),
          fixed(s.meanCandidatesScored, 1),
          fraction(s.candidateShare),
          s.meanEstimated === undefined ? "" : fixed(s.meanEstimated, 0),
        ]),
      }),
    },
  ]);
}
