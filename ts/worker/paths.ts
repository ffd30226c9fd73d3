// Where the project lives on disk, resolved from this file (ts/worker/paths.ts), so the CLI works
// from any current directory; and the worker's workspace folder, made before it starts.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FolderError, makeFolder } from "../files/make-folder.js";
import { WorkerStartError } from "./errors.js";

/** The repository root: the folder holding package.json, ts/ and python_worker/. */
export const repoRoot: string = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** The folder that must be on PYTHONPATH for `python -m robustseg_worker`. */
export const pythonWorkerDir: string = join(repoRoot, "python_worker");

/** The interpreter `npm run setup` creates. */
export const defaultVenvPython: string = join(repoRoot, ".venv", "bin", "python");

/**
 * The worker's workspace folder, made with its parents if missing; a path where no folder can be
 * made is a WorkerStartError naming --workspace (one line) instead of a start-up that never ends.
 */
export function makeWorkspaceFolder(workspace: string): string {
  try {
    return makeFolder(workspace, "--workspace");
  } catch (error) {
    if (error instanceof FolderError) throw new WorkerStartError(error.message);
    throw error;
  }
}
