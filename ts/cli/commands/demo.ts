// `robustseg demo`: the embedded end-to-end run (synthetic histology → U-Net → test metrics
// beside the all-background predictor). Artifacts are reused on a second run.
import { Command } from "commander";
import { DEMO_PRESET, type DemoOutcome, runDemo } from "../../ops/demo.js";
import type { CliContext } from "../context.js";
import { count, seconds } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { printResult } from "../output.js";
import { renderMetricsComparison, renderPerClass, renderEpochs } from "../render-metrics.js";
import { renderSections } from "../table.js";
import { withWorker } from "../worker-session.js";

export function demoCommand(context: CliContext): Command {
  const { dataset: d, model: m, training: t } = DEMO_PRESET;
  return new Command("demo")
    .summary("the embedded demo: data, training, test metrics vs all-background")
    .description(
      `Run the embedded demo: generate synthetic histology (${d.tileSize}×${d.tileSize}, ${d.numTrain}/${d.numValidation}/${d.numTest} ` +
        `train/validation/test tiles), train a U-Net (depth ${m.depth}, base width ${m.baseWidth}, ${t.epochs} epochs), evaluate it on ` +
        "the test split and print its metrics beside an all-background predictor. A second run reuses the artifacts.",
    )
    .action(async (_options, command: Command) => {
      const globals = parseGlobalOptions(command, context.io.env);
      const result = await withWorker(context, globals, ({ client, signal, reporter }) => runDemo(client, DEMO_PRESET, { signal, reporter }));
      printResult(context.io, globals, result, renderDemo);
    });
}

export function renderDemo(result: DemoOutcome): string {
  const { preset, dataset, training, evaluation, seconds: s } = result;
  const d = preset.dataset;
  const m = preset.model;
  const reuse = (reused: boolean, made: string) => (reused ? "reused" : made);
  return renderSections([
    {
      body:
        `dataset  synthetic histology ${d.tileSize}×${d.tileSize}, ${d.numTrain}/${d.numValidation}/${d.numTest} tiles, seed ${d.seed} ` +
        `(${reuse(dataset.reused, "generated")}, ${seconds(s.dataset)})\n` +
        `model    ${training.model.id}: U-Net depth ${m.depth}, base width ${m.baseWidth}, ${count(training.model.numParameters)} parameters, ` +
        `${preset.training.epochs} epochs, best ${training.model.bestEpoch} (${reuse(training.reused, "trained")}, ${seconds(s.train)})`,
    },
    { title: "training", body: renderEpochs(training.model.epochs) },
    {
      title: `test split: ${count(evaluation.numImages)} tiles, ${count(evaluation.numPixels)} pixels (${seconds(s.evaluate)})`,
      body: renderMetricsComparison(result.comparison),
    },
    { title: "per class", body: renderPerClass(result.comparison) },
    { body: `total ${seconds(s.total)}` },
  ]);
}
