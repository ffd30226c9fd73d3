// `robustseg export MODEL_ID --format onnx|torchscript|safetensors --out FILE`: the worker builds
// the file and streams it; the CLI writes --out atomically after checking size and sha256.
import { Command } from "commander";
import { z } from "zod";
import { EXPORT_FORMAT_NAMES, EXPORT_FORMATS, type ExportOutcome, exportModel } from "../../ops/export-model.js";
import { getWorkerInfo } from "../../ops/worker-info.js";
import type { CliContext } from "../context.js";
import { bytes } from "../format.js";
import { parseGlobalOptions } from "../global-options.js";
import { artifactId, choice, positiveInteger } from "../option-schemas.js";
import { printResult } from "../output.js";
import { option, parseOptions } from "../parse-options.js";
import { renderKeyValues } from "../table.js";
import { checkOutputApart, checkOutputOption } from "../output-targets.js";
import { withWorker } from "../worker-session.js";

export const exportOptionsSchema = z.object({
  model: artifactId("model"),
  format: choice(EXPORT_FORMAT_NAMES),
  out: z.string().trim().min(1, "must not be empty").optional(),
  opset: positiveInteger().optional(),
});

export function exportCommand(context: CliContext): Command {
  const width = Math.max(...EXPORT_FORMAT_NAMES.map((f) => f.length));
  return new Command("export")
    .summary("export a trained model (onnx, torchscript, safetensors)")
    .description(
      "Export a trained model of any backend to a file for use outside robustseg. The model takes float32 images " +
        "(N, 3, H, W) with pixels in [0, 1] (normalisation is inside) and gives logits (N, classes, H, W). Formats:\n" +
        EXPORT_FORMAT_NAMES.map((f) => `  ${f.padEnd(width)}  ${EXPORT_FORMATS[f].purpose}`).join("\n") +
        "\nThe worker streams the file (a remote worker too) and keeps a copy in its workspace (exports/); --out is written " +
        "atomically after its size and sha256 are checked; it must be a regular file or a folder (never a device, FIFO or socket) outside the workspace. --json gives path, size, sha256, opset, input/output names and classes.",
    )
    .argument("<model-id>", "model id (from train or a run's results.json)")
    .addOption(option("--format <format>", `file format (${EXPORT_FORMAT_NAMES.join(", ")})`, "onnx"))
    .option("--out <file>", "file to write, or an existing folder (default: the worker's file name, e.g. m-….onnx, here)")
    .option("--opset <n>", "ONNX opset (default: the worker's)")
    .action(async (modelId: string, _options, command: Command) => {
      const o = parseOptions(exportOptionsSchema, { ...command.opts(), model: modelId }, command);
      const globals = parseGlobalOptions(command, context.io.env);
      if (o.out !== undefined) {
        checkOutputOption(o.out, "file or folder");
        // A spawned worker's workspace is its store: an export written into it could replace an artifact's file.
        if (globals.worker === undefined) checkOutputApart({ option: "--out", path: o.out, shape: "file or folder" }, [{ option: "the workspace", path: globals.workspace }]);
      }
      const result = await withWorker(context, globals, async ({ client, signal, reporter }) => {
        if (o.out !== undefined && onThisMachine(globals.worker)) {
          // A worker on this machine says where its workspace is; nothing has been exported yet.
          const { workspace } = await getWorkerInfo(client, { signal });
          if (workspace) checkOutputApart({ option: "--out", path: o.out, shape: "file or folder" }, [{ option: "the workspace", path: workspace }]);
        }
        return exportModel(client, { modelId: o.model, format: o.format, opset: o.opset, out: o.out }, { signal, reporter });
      });
      printResult(context.io, globals, result, renderExport);
    });
}

/** A spawned worker, or one at a loopback address: its workspace paths are this machine's. */
function onThisMachine(worker: string | undefined): boolean {
  if (worker === undefined) return true;
  const host = worker.replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

export function renderExport(r: ExportOutcome): string {
  return renderKeyValues([
    ["model", r.modelId],
    ["format", `${r.format}${r.opset !== null ? `, opset ${r.opset}` : ""}`],
    ["file", r.path],
    ["size", bytes(r.sizeBytes)],
    ["sha256", r.sha256],
    ["input", `${r.inputName}: float32 (N, 3, H, W), pixels in [0, 1]`],
    ["output", `${r.outputName}: float32 (N, ${r.classNames.length}, H, W) logits: ${r.classNames.join(", ")}`],
    ["worker's copy", r.workspacePath],
  ]);
}
