#!/usr/bin/env node
// Runs the worker's tests (pytest) with the project's Python environment.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const python = process.env.ROBUSTSEG_PYTHON ?? join(root, ".venv", "bin", "python");
const res = spawnSync(python, ["-m", "pytest", ...process.argv.slice(2)], {
  cwd: join(root, "python_worker"),
  stdio: "inherit",
});
if (res.error) {
  process.stderr.write(`pytest: cannot run ${python}: ${res.error.message}\n`);
  process.exit(1);
}
process.exit(res.status ?? 1);
