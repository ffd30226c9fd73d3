// `robustseg predict`: segment image files with a trained model; palette PNG masks (+ .npy
// probabilities) in --out, per-image class pixel shares on stdout.
import { Command } from "commander";
import { z } from "zod";
import { listImageFiles } from "../../imaging/image-files.js";
import { predictFiles, type PredictFilesOutcome } from "../../ops/predict-images.js";
import type { CliContext } from "../context.js";
import { count, fraction, seconds } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, outputFolder } from "../option-schemas.js";
import { printResult } from "../output.js";
import { parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { addTilingOptions, tilingFrom, tilingOptionsSchema } from "../tiling-options.js";
import { withWorker } from "../worker-session.js";
import { outputApartFromInputs } from "../output-targets.js";

export const predictOptionsSchema = z.object({
  model: artifactId("model", { aliases: true }),
  input: z.string({ error: "required (an image file or a folder of them)" }).trim().min(1, "must not be empty"),
  out: outputFolder().optional(),
  probabilities: z.boolean().default(false),
  ...tilingOptionsSchema,
});

export function predictCommand(context: CliContext): Command {
  const command = new Command("predict")
    .summary("segment image files with a trained model")
    .description(
      "Segment PNG (or .npy) images with a trained model (id or alias). Images of any size: the worker tiles or pads them as the model needs and " +
        "every mask has its image's size. With --out: one palette PNG mask per image (pixel value = class index, colours = the report's), " +
        "NAME.probabilities.npy with --probabilities (float32, classes x H x W), and predictions.json.",
    )
    .option("--model <id-or-alias>", "model id or alias, required")
    .option("--input <file-or-folder>", "a PNG/.npy image or a folder of them, required")
    .option("--out <dir>", "write the masks here")
    .option("--probabilities", "also write the class probabilities as .npy");
  return addTilingOptions(command).action(async (_options, cmd: Command) => {
    const options = parseOptions(predictOptionsSchema, cmd.opts(), cmd);
    const globals = parseGlobalOptions(cmd, context.io.env);
    const files = listImageFiles(options.input);
    if (options.out !== undefined) outputApartFromInputs(options.out, options.input);
    const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
      predictFiles(client, { model: options.model, files, outDir: options.out, probabilities: options.probabilities, tiling: tilingFrom(options) }, { signal, reporter }),
    );
    printResult(context.io, globals, result, renderPredict);
  });
}

export function renderPredict(result: PredictFilesOutcome): string {
  const rows = result.images.map((i) => [i.name, `${i.width}x${i.height}`, ...i.classShares.map((s) => fraction(s))]);
  return renderSections([
    {
      body:
        `model ${result.modelId}: ${count(result.images.length)} image${result.images.length === 1 ? "" : "s"}, ${count(result.numPixels)} pixels in ${seconds(result.seconds)}` +
        (result.outDir ? `\nmasks in ${result.outDir}` : ""),
    },
    { title: "class pixel shares", body: renderTable({ head: ["image", "size", ...result.classNames], rows }) },
  ]);
}
