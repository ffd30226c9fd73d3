// Which Python runs the worker: ROBUSTSEG_PYTHON when set, else the project's .venv.
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { WorkerStartError } from "./errors.js";
import { defaultVenvPython } from "./paths.js";

export const PYTHON_ENV_VAR = "ROBUSTSEG_PYTHON";

/**
 * Resolves the worker interpreter and checks that it exists and is executable.
 * Throws WorkerStartError("worker interpreter not found: ...") otherwise.
 */
export function resolveWorkerPython(env: NodeJS.ProcessEnv = process.env): string {
  const given = env[PYTHON_ENV_VAR];
  const python = given !== undefined && given !== "" ? resolve(given) : defaultVenvPython;
  const hint = `(set ${PYTHON_ENV_VAR} or run \`npm run setup\`)`;
  let isFile = false;
  try {
    isFile = statSync(python).isFile();
  } catch {
    throw new WorkerStartError(`worker interpreter not found: ${python} ${hint}`);
  }
  if (!isFile) throw new WorkerStartError(`worker interpreter is not a file: ${python} ${hint}`);
  try {
    accessSync(python, constants.X_OK);
  } catch {
    throw new WorkerStartError(`worker interpreter is not executable: ${python} ${hint}`);
  }
  return python;
}
