// `robustseg report RUN_DIR`: rebuilds report.html and report.md from a run folder (results.json,
// figures.json, figures/*.png) without recomputing anything and without a worker.
import { Command } from "commander";
import { writeReport } from "../../report/report.js";
import type { CliContext } from "../context.js";
import { parseGlobalOptions } from "../global-options.js";
import { printResult } from "../output.js";

export function reportCommand(context: CliContext): Command {
  return new Command("report")
    .summary("rebuild report.html and report.md from a run folder (no worker needed)")
    .description(
      "Build the run's report from its folder only: report.html (one self-contained file: summary, Tables 1 and 2, per-class " +
        "IoU/Dice, the figure panels saved by the run, charts rendered with Vega-Lite) and report.md. Nothing is recomputed.",
    )
    .argument("<run-dir>", "a run folder written by `robustseg run` or `robustseg demo`")
    .action(async (runDir: string, _options, command: Command) => {
      const globals = parseGlobalOptions(command, context.io.env);
      const written = await writeReport(runDir);
      printResult(context.io, globals, written, (w) =>
        [`report: ${w.html}`, `markdown: ${w.markdown}`, `${w.figures} figures, charts: ${w.charts.join(", ") || "none"}`].join("\n"),
      );
    });
}
