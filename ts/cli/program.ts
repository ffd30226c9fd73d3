// The command tree and the single path every run takes: parse, run, and on failure the one
// error handler (one line on stderr, exit code 1, or 2 for usage errors).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { repoRoot } from "../worker/paths.js";
import { datasetCreateCommand, datasetShowCommand } from "./commands/dataset-create.js";
import { sweepCommand } from "./commands/sweep.js";
import { attackCommand } from "./commands/attack.js";
import { compareSelectionCommand } from "./commands/compare-selection.js";
import { demoCommand } from "./commands/demo.js";
import { enhanceCommand } from "./commands/enhance.js";
import { runCommand } from "./commands/run.js";
import { reportCommand } from "./commands/report.js";
import { evaluateCommand } from "./commands/evaluate.js";
import { exportCommand } from "./commands/export.js";
import { infoCommand } from "./commands/info.js";
import { modelCommand } from "./commands/model-alias.js";
import { predictCommand } from "./commands/predict.js";
import { probeCommand } from "./commands/probe.js";
import { trainCommand } from "./commands/train.js";
import type { CliContext } from "./context.js";
import { reportError } from "./errors.js";
import { addGlobalOptions, verboseRequested } from "./global-options.js";

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

export function buildProgram(context: CliContext): Command {
  const program = addGlobalOptions(
    new Command("robustseg")
      .description(
        "Train segmentation models (U-Net, segmentation_models_pytorch, MONAI) for histology, attack them and retrain. The CLI drives a Python PyTorch worker over gRPC: " +
          "it spawns one (or uses --worker HOST:PORT) and computes every metric from the confusion matrices the worker returns.",
      )
      .version(version(), "-V, --version", "print the version"),
  );
  program.addCommand(infoCommand(context));
  program.addCommand(
    new Command("dataset")
      .summary("dataset artifacts (create, show)")
      .description("Dataset artifacts on the worker.")
      .addCommand(datasetCreateCommand(context))
      .addCommand(datasetShowCommand(context)),
  );
  program.addCommand(trainCommand(context));
  program.addCommand(evaluateCommand(context));
  program.addCommand(attackCommand(context));
  program.addCommand(sweepCommand(context));
  program.addCommand(enhanceCommand(context));
  program.addCommand(compareSelectionCommand(context));
  program.addCommand(exportCommand(context));
  program.addCommand(runCommand(context));
  program.addCommand(demoCommand(context));
  program.addCommand(reportCommand(context));
  program.addCommand(predictCommand(context));
  program.addCommand(probeCommand(context));
  program.addCommand(modelCommand(context));
  configureTree(program, context);
  return program;
}

/** The same output routing, error behaviour and help layout on every (sub)command. */
function configureTree(command: Command, context: CliContext): void {
  command
    .exitOverride()
    .showHelpAfterError(false)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (text) => context.io.stdout(text),
      writeErr: (text) => context.io.stderr(text),
      // Parse errors reach the one error handler as CommanderError instead.
      outputError: () => {},
    });
  for (const sub of command.commands) configureTree(sub, context);
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  try {
    await buildProgram(context).parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    const { text, exitCode } = reportError(error, verboseRequested(argv));
    if (text) context.io.stderr(`error: ${text}\n`);
    return exitCode;
  }
}
