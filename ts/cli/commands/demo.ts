// `robustseg demo`: the whole four-model experiment with the demo preset (docs/ARCHITECTURE.md section 10):
// synthetic histology 64×64, small U-Net, short training, reduced attack steps, method two by the surrogate.
import { Command } from "commander";
import { z } from "zod";
import { DEMO_SPEC, loadSpec } from "../../experiment/spec.js";
import { outputFolder, positiveInteger } from "../option-schemas.js";
import type { CliContext } from "../context.js";
import { parseGlobalOptions } from "../global-options.js";
import { parseOptions } from "../parse-options.js";
import { CONCURRENCY_HELP, runAndPrint } from "./run.js";

export function demoCommand(context: CliContext): Command {
  const d = DEMO_SPEC.data as { tileSize: number; train: number; validation: number; test: number };
  return new Command("demo")
    .summary("the paper's four-model experiment on synthetic histology, in minutes on CPU")
    .description(
      `Run the whole experiment with the demo preset: synthetic histology ${d.tileSize}×${d.tileSize} (${d.train}/${d.validation}/${d.test} ` +
        `train/validation/test tiles), a small U-Net, M1 → D1 (method one) and D2 (method two, surrogate) → M2, M3, M4, then every model ` +
        "clean and under a background-targeted PGD (ε = 0.01), white-box and transfer from M1. Prints Tables 1 and 2 and the run " +
        "folder (default runs/demo). Same as `robustseg run --preset demo`; a second run reuses everything.",
    )
    .option("--out <dir>", "run folder (default runs/demo)")
    .option("--force", "write into --out even when it holds another experiment's run or files robustseg did not write")
    .option("--concurrency <n>", CONCURRENCY_HELP)
    .action(async (_options, command: Command) => {
      const options = parseOptions(z.object({ out: outputFolder().optional(), force: z.boolean().default(false), concurrency: positiveInteger().optional() }), command.opts(), command);
      const globals = parseGlobalOptions(command, context.io.env);
      const spec = await loadSpec({ preset: "demo", overrides: options.concurrency ? { concurrency: options.concurrency } : {} });
      await runAndPrint(context, globals, spec, options.out, undefined, options.force);
    });
}
