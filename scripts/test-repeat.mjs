#!/usr/bin/env node
// `npm run test:repeat -- FILE [N] [--load K]`: runs one test file N times (default 5) with K
// CPU-bound processes beside it (default: one per core), and fails unless every run passes. A
// test whose verdict depends on which stage finishes first, or on how fast the machine is, fails
// here long before it blocks a landing at random: tests assert outcomes, never a schedule.
// Suite files (*.suite.ts) run with the suites' vitest config; test files with the default one.
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const usage = "usage: npm run test:repeat -- FILE [N] [--load K]   (N runs, default 5; K busy processes beside them, default one per core)";

function parseArgs(argv) {
  const positional = [];
  let load = availableParallelism();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--load") {
      load = Number(argv[++i]);
      if (!/^\d+$/.test(argv[i] ?? "")) fail(`--load: expected a whole number, got ${argv[i] ?? "nothing"}`);
    } else positional.push(argv[i]);
  }
  const [file, times = "5"] = positional;
  if (!file || positional.length > 2) fail(usage);
  if (!/^[1-9]\d*$/.test(times)) fail(`N: expected a positive whole number, got ${times}`);
  return { file, times: Number(times), load };
}

function fail(message) {
  process.stderr.write(`test:repeat: ${message}\n`);
  process.exit(2);
}

/** K processes that spin until killed: the load a slow or busy CI machine puts beside a test. */
function startLoad(count) {
  const spin = "for (;;) { Math.sqrt(Math.random()); }";
  return Array.from({ length: count }, () => spawn(process.execPath, ["-e", spin], { stdio: "ignore" }));
}

const { file, times, load } = parseArgs(process.argv.slice(2));
const config = file.endsWith(".suite.ts") ? ["--config", "vitest.suites.config.ts"] : [];
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const hogs = startLoad(load);
const stopLoad = () => hogs.forEach((h) => h.kill("SIGKILL"));
process.on("exit", stopLoad);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

const outcomes = [];
for (let i = 1; i <= times; i++) {
  process.stderr.write(`test:repeat: run ${i}/${times} of ${file} with ${load} busy process(es) beside it\n`);
  const res = spawnSync(process.execPath, [vitest, "run", ...config, file], { cwd: root, stdio: "inherit" });
  outcomes.push(res.status === 0);
}
stopLoad();
const passed = outcomes.filter(Boolean).length;
process.stdout.write(`test:repeat: ${file}: ${passed} of ${times} runs passed (${load} busy process(es) beside each)\n`);
process.exit(passed === times ? 0 : 1);
