// `robustseg probe`: is a model's prediction robust? Clean vs attacked prediction per image.
import { Command } from "commander";
import { z } from "zod";
import { listImageFiles } from "../../imaging/image-files.js";
import { ATTACK_METHODS, describeAttack } from "../../attacks/registry.js";
import { probeFiles, type ProbeFilesOutcome } from "../../ops/probe-images.js";
import { addAttackOptions, attackList, attackParamsFromCommand } from "../attack-options.js";
import type { CliContext } from "../context.js";
import { count, fixed, fraction, seconds } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, outputFolder } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderSections, renderTable } from "../table.js";
import { addTilingOptions, tilingFrom, tilingOptionsSchema } from "../tiling-options.js";
import { withWorker } from "../worker-session.js";
import { outputApartFromInputs } from "../output-targets.js";

export const probeOptionsSchema = z.object({
  model: artifactId("model", { aliases: true }),
  input: z.string({ error: "required (an image file or a folder of them)" }).trim().min(1, "must not be empty"),
  out: outputFolder().optional(),
  attack: choice(ATTACK_METHODS),
  ...tilingOptionsSchema,
});

export function probeCommand(context: CliContext): Command {
  const command = new Command("probe")
    .summary("attack a model on image files: how much does its prediction change?")
    .description(
      "For each image: the clean prediction, an attack against the model (the clean prediction stands in for labels), the prediction on the " +
        "attacked image, the share of foreground pixels turned to background, and the IoU between the two predictions. With --out: " +
        "NAME.clean.png and NAME.attacked.png (palette masks), NAME.adversarial.png/.npy (the attacked image) and probe.json. Attacks:\n" +
        attackList(),
    )
    .option("--model <id-or-alias>", "model id or alias, required")
    .option("--input <file-or-folder>", "a PNG/.npy image or a folder of them, required")
    .option("--out <dir>", "write masks and attacked images here")
    .addOption(option("--attack <method>", `attack: ${ATTACK_METHODS.join(", ")}`, "pgd"));
  return addTilingOptions(addAttackOptions(command)).action(async (_options, cmd: Command) => {
    const options = parseOptions(probeOptionsSchema, cmd.opts(), cmd);
    const attack = attackParamsFromCommand(cmd, options.attack, "--attack");
    const globals = parseGlobalOptions(cmd, context.io.env);
    const files = listImageFiles(options.input);
    if (options.out !== undefined) outputApartFromInputs(options.out, options.input);
    const result = await withWorker(context, globals, ({ client, signal, reporter }) =>
      probeFiles(client, { model: options.model, files, attack, outDir: options.out, tiling: tilingFrom(options) }, { signal, reporter }),
    );
    printResult(context.io, globals, result, renderProbe);
  });
}

export function renderProbe(result: ProbeFilesOutcome): string {
  const rows = result.images.map((i) => [
    i.name,
    `${i.width}x${i.height}`,
    count(i.foregroundPixels),
    fraction(i.foregroundToBackground),
    fraction(i.meanIoU),
    fraction(i.foregroundIoU),
    fraction(i.pixelAgreement),
    fixed(i.linf, 4),
  ]);
  return renderSections([
    {
      body:
        `model ${result.modelId} under ${describeAttack(result.attack, result.classNames)}: ${count(result.images.length)} image${result.images.length === 1 ? "" : "s"} in ${seconds(result.seconds)}` +
        (result.outDir ? `\nmasks and attacked images in ${result.outDir}` : ""),
    },
    {
      title: "clean vs attacked prediction",
      body: renderTable({ head: ["image", "size", "foreground px", "fg → background", "mIoU", "fg IoU", "same class", "L∞"], rows }),
    },
  ]);
}
