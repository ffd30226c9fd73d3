// Exporting a trained model: the worker streams the file in chunks (so a remote worker exports
// to this machine's disk); we write it to a temporary file beside the target, check its size and
// sha256 against the worker's result, and rename it into place, so `out` is whole or absent.
import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ProtocolError } from "../client/errors.js";
import type { WorkerClient } from "../client/worker-client.js";
import { temporaryPathFor } from "../files/atomic.js";
import { checkOutputKind, checkReplaceable } from "../files/output-target.js";
import { ExportFormat } from "../generated/robustseg/v1/model.js";
import { type OperationContext, silentReporter } from "./reporter.js";

/** What each format is for (export --help and the README). */
export const EXPORT_FORMATS = {
  onnx: {
    proto: ExportFormat.EXPORT_FORMAT_ONNX,
    purpose: "ONNX graph for inference anywhere (onnxruntime, TensorRT, OpenVINO): dynamic batch axis, normalisation inside, opset in its metadata",
  },
  torchscript: {
    proto: ExportFormat.EXPORT_FORMAT_TORCHSCRIPT,
    purpose: "TorchScript archive: torch.jit.load() in Python or C++ (libtorch) without robustseg or the backend's package",
  },
  safetensors: {
    proto: ExportFormat.EXPORT_FORMAT_SAFETENSORS,
    purpose: "the weights (state dict) with the model spec in the file's metadata, to fine-tune or load into the same architecture",
  },
} as const;
export type ExportFormatName = keyof typeof EXPORT_FORMATS;
export const EXPORT_FORMAT_NAMES = Object.keys(EXPORT_FORMATS) as [ExportFormatName, ...ExportFormatName[]];

export interface ExportParams {
  modelId: string;
  format: ExportFormatName;
  /** ONNX opset; unset = the worker's default. */
  opset?: number | undefined;
  /** The file to write, or an existing folder to write the worker's suggested name into; unset = that name here. */
  out?: string | undefined;
}

export interface ExportOutcome {
  modelId: string;
  format: ExportFormatName;
  /** Where the file now is (absolute). */
  path: string;
  sizeBytes: number;
  sha256: string;
  /** ONNX only. */
  opset: number | null;
  inputName: string;
  outputName: string;
  classNames: string[];
  /** The worker's own copy (in its workspace, exports/). */
  workspacePath: string;
  /** What the file's own metadata holds (spec, backend, versions). */
  metadata: unknown;
}

async function targetPath(out: string | undefined, fileName: string): Promise<string> {
  if (out === undefined) return resolve(fileName);
  try {
    if ((await stat(out)).isDirectory()) return resolve(join(out, fileName));
  } catch {
    // not there yet: a file path
  }
  return resolve(out);
}

export async function exportModel(client: WorkerClient, params: ExportParams, context: OperationContext = {}): Promise<ExportOutcome> {
  const reporter = context.reporter ?? silentReporter;
  // Only a regular file or a folder is a target: a rename would replace a device node or FIFO.
  if (params.out !== undefined) checkOutputKind("--out", params.out, "file or folder");
  // The temporary file lives beside the target (a folder given as --out, else the target's folder).
  const provisional = await targetPath(params.out, "export");
  await mkdir(dirname(provisional), { recursive: true });
  const tmp = temporaryPathFor(provisional);
  const file = await open(tmp, "wx");
  const hash = createHash("sha256");
  let written = 0;
  let moved = false;
  try {
    let result;
    for await (const event of client.exportModel(
      { modelId: params.modelId, format: EXPORT_FORMATS[params.format].proto, opset: params.opset ?? 0 },
      { signal: context.signal },
    )) {
      if (event.$case === "progress") {
        reporter.progress({ stage: event.value.stage || "export", done: event.value.done, total: event.value.total, message: event.value.message });
      } else if (event.$case === "chunk") {
        const { offset, data } = event.value;
        if (offset !== written) throw new ProtocolError("ExportModel", `chunk at offset ${offset}, expected ${written}`);
        await file.write(data, 0, data.length, offset);
        hash.update(data);
        written += data.length;
        reporter.progress({ stage: "export", done: written, total: 0, message: `${written} bytes` });
      } else if (event.$case === "result") {
        if (result !== undefined) throw new ProtocolError("ExportModel", "stream sent more than one result event");
        result = event.value;
      }
    }
    if (result === undefined) throw new ProtocolError("ExportModel", "stream ended without a result event");
    const sha256 = hash.digest("hex");
    if (result.sizeBytes !== written) throw new ProtocolError("ExportModel", `received ${written} bytes, the worker sent ${result.sizeBytes}`);
    if (result.sha256 && result.sha256 !== sha256) throw new ProtocolError("ExportModel", `sha256 ${sha256} of the received file differs from the worker's ${result.sha256}`);
    await file.sync();
    await file.close();
    const path = await targetPath(params.out, result.fileName || `${params.modelId}.${params.format}`);
    // Checked again at the last moment: something other than a file may have appeared there.
    checkReplaceable(path, "--out");
    await rename(tmp, path);
    moved = true;
    let metadata: unknown = null;
    try {
      metadata = result.metadataJson ? JSON.parse(result.metadataJson) : null;
    } catch {
      metadata = result.metadataJson;
    }
    return {
      modelId: params.modelId,
      format: params.format,
      path,
      sizeBytes: written,
      sha256,
      opset: params.format === "onnx" ? result.opset : null,
      inputName: result.inputName,
      outputName: result.outputName,
      classNames: [...result.classNames],
      workspacePath: result.workspacePath,
      metadata,
    };
  } finally {
    await file.close().catch(() => {});
    if (!moved) await rm(tmp, { force: true });
    reporter.endStage();
  }
}
