#!/usr/bin/env node
// First-use set-up, idempotent and quick when already done: Node dependencies (npm ci when the
// lock file changed), the worker's Python environment (.venv from requirements.txt, unless
// ROBUSTSEG_PYTHON names an interpreter to use as it is), and the generated contract code when
// missing. Uses only Node's standard library: it runs before node_modules exists.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const quiet = args.has("--quiet");
const say = (msg) => {
  if (!quiet) process.stderr.write(`[setup] ${msg}\n`);
};

function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function run(cmd, cmdArgs, what) {
  const res = spawnSync(cmd, cmdArgs, { cwd: root, stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"] });
  if (res.error || res.status !== 0) {
    const why = res.error ? res.error.message : `exit code ${res.status}`;
    process.stderr.write(`setup: ${what} failed (${cmd} ${cmdArgs.join(" ")}: ${why})\n`);
    process.exit(1);
  }
}

/** Re-runs `step` only when the fingerprint of its inputs differs from the one recorded last time. */
function once(stampPath, fingerprint, what, step) {
  if (existsSync(stampPath) && readFileSync(stampPath, "utf8") === fingerprint) return;
  say(what);
  step();
  writeFileSync(stampPath, fingerprint);
}

// 1. Node dependencies.
const lock = join(root, "package-lock.json");
// --prefer-offline: the lock file pins every version, so npm's cache answers without asking the
// registry whether its metadata is fresh (1-2 s of a 9-s install); what the cache lacks is fetched.
once(join(root, "node_modules", ".robustseg-setup"), sha256(lock), "installing Node dependencies (npm ci)", () =>
  run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], "installing Node dependencies"),
);

// 2. The worker's Python environment.
const requirements = join(root, "requirements.txt");
const givenPython = process.env.ROBUSTSEG_PYTHON;
if (givenPython) {
  if (!existsSync(givenPython)) {
    process.stderr.write(`setup: ROBUSTSEG_PYTHON=${givenPython}: no such interpreter\n`);
    process.exit(1);
  }
} else {
  const venv = join(root, ".venv");
  const venvPython = join(venv, "bin", "python");
  if (!existsSync(venvPython)) {
    const base = process.env.ROBUSTSEG_BASE_PYTHON ?? "python3";
    say(`creating the worker's Python environment in .venv (${base} -m venv)`);
    run(base, ["-m", "venv", venv], "creating .venv");
  }
  // Benchmark-only packages (torchattacks for `npm run bench` and its smoke test) go in with
  // --no-deps: see the comment in requirements-bench.txt. The worker never imports them.
  const benchRequirements = join(root, "requirements-bench.txt");
  once(
    join(venv, ".robustseg-setup"),
    `${sha256(requirements)} ${sha256(benchRequirements)}`,
    "installing requirements.txt and requirements-bench.txt into .venv (torch is large; pip's cache serves later runs)",
    () => {
      run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", requirements], "pip install -r requirements.txt");
      run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-r", benchRequirements], "pip install --no-deps -r requirements-bench.txt");
    },
  );
}

// 3. Generated contract code (committed; regenerated here only when missing).
const generated = [join(root, "ts", "generated", "robustseg", "v1", "worker_service.ts"),
  join(root, "python_worker", "robustseg_worker", "proto", "robustseg", "v1", "worker_service_pb2.py")];
if (!args.has("--no-generate") && generated.some((p) => !existsSync(p))) {
  say("generating contract code (scripts/generate-proto.sh)");
  run("bash", [join(root, "scripts", "generate-proto.sh")], "generating contract code");
}

// 4. Chromium for the report's browser test (Debian's `chromium` package, driven by playwright-core).
// Installed with apt-get when missing and we are root on a Debian-like system; otherwise a note.
const chromium = process.env.ROBUSTSEG_CHROMIUM ?? "/usr/bin/chromium";
if (!args.has("--no-chromium") && !existsSync(chromium)) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
  const stamp = join(root, "node_modules", ".robustseg-chromium");
  if (isRoot && hasApt && existsSync(join(root, "node_modules")) && !existsSync(stamp)) {
    say("installing Chromium for the report's browser test (apt-get install chromium)");
    writeFileSync(stamp, "attempted\n"); // once: a failed attempt is not retried on every run
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const apt = (aptArgs) =>
      spawnSync("apt-get", aptArgs, { cwd: root, env: aptEnv, stdio: ["ignore", "ignore", quiet ? "ignore" : "inherit"] }).status === 0;
    const listsPresent = spawnSync("sh", ["-c", "ls /var/lib/apt/lists/ | grep -q _Packages"], { stdio: "ignore" }).status === 0;
    const known = listsPresent && spawnSync("apt-cache", ["show", "chromium"], { stdio: "ignore" }).status === 0;
    if (!known) apt(["-qq", "update"]);
    if (!apt(["-qq", "install", "-y", "--no-install-recommends", "chromium"]) || !existsSync(chromium)) {
      process.stderr.write(`[setup] note: installing chromium failed; the report's browser test needs ${chromium} (apt-get install chromium)\n`);
    }
  } else if (!existsSync(stamp)) {
    say(`note: ${chromium} is missing; the report's browser test skips (fails with CI set). Install Debian's chromium package (apt-get install chromium) or set ROBUSTSEG_CHROMIUM.`);
  }
}
