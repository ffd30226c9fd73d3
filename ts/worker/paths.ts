// Where the project lives on disk, resolved from this file (ts/worker/paths.ts), so the CLI works
// from any current directory.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the folder holding package.json, ts/ and python_worker/. */
export const repoRoot: string = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** The folder that must be on PYTHONPATH for `python -m robustseg_worker`. */
export const pythonWorkerDir: string = join(repoRoot, "python_worker");

/** The interpreter `npm run setup` creates. */
export const defaultVenvPython: string = join(repoRoot, ".venv", "bin", "python");
