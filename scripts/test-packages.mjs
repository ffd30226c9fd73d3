#!/usr/bin/env node
// `npm run test:packages`: the two packages as a user gets them, outside the repository.
//  1. Python: build the wheel of python_worker/, install it into a fresh venv, start the
//     `robustseg-worker` command from it (readiness line, GetInfo, Shutdown), check that the
//     attack library imports without grpc, and run examples/embed/python_service.py with it.
//  2. TypeScript: `npm pack` (builds dist/), install the tarball into a temporary project and
//     run examples/embed/ts_service.mjs there, against a worker it spawns with the fresh venv.
// Prints one line per check and "N passed, N failed" at the end; exits non-zero on a failure.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const python = process.env.ROBUSTSEG_PYTHON ?? join(root, ".venv", "bin", "python");
const basePython = process.env.ROBUSTSEG_BASE_PYTHON ?? "python3";
const tmp = mkdtempSync(join(tmpdir(), "robustseg-packages-"));
const results = [];
const started = Date.now();

function run(cmd, args, options = {}) {
  const t0 = Date.now();
  const res = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 2 ** 20, ...options });
  if (res.error || res.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${res.error?.message ?? `exit ${res.status}`}):\n${(res.stderr ?? "").slice(-3000)}${(res.stdout ?? "").slice(-2000)}`);
  }
  return { stdout: res.stdout, seconds: (Date.now() - t0) / 1000 };
}

async function check(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push(true);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ""}`);
  } catch (error) {
    results.push(false);
    console.log(`FAIL ${name}: ${error.stack ?? error}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** The exact pins of requirements.txt for the worker's runtime packages. */
function pins(names) {
  return readFileSync(join(root, "requirements.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => names.some((n) => l.toLowerCase().startsWith(`${n}==`)));
}

const image = (() => {
  const real = join(root, "..", "shared", "data", "real", "consep", "images", "test_10_001.png");
  if (existsSync(real)) return real;
  const made = join(tmp, "tile.png");
  run(python, ["-c", `from PIL import Image; import numpy as np; Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(${JSON.stringify(made)})`]);
  return made;
})();

const venv = join(tmp, "venv");
const venvPython = join(venv, "bin", "python");

await check("wheel builds and installs into a fresh venv", () => {
  const wheels = join(tmp, "wheels");
  const built = run(python, ["-m", "pip", "wheel", join(root, "python_worker"), "--no-deps", "-q", "-w", wheels]);
  const wheel = readdirSync(wheels).find((f) => f.endsWith(".whl"));
  assert(wheel, "no wheel built");
  run(basePython, ["-m", "venv", venv]);
  const installed = run(venvPython, ["-m", "pip", "install", "-q", "--disable-pip-version-check", `${join(wheels, wheel)}[png]`,
    ...pins(["torch", "numpy", "grpcio", "protobuf", "pillow"])]);
  return `${wheel}, built in ${built.seconds.toFixed(1)} s, installed in ${installed.seconds.toFixed(1)} s`;
});

await check("robustseg-worker starts from the venv and serves", async () => {
  const command = join(venv, "bin", "robustseg-worker");
  const child = spawn(command, ["--listen", "127.0.0.1:0", "--workspace", join(tmp, "ws-cli"), "--parent-pid", String(process.pid)], {
    cwd: tmp,
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, PYTHONPATH: "" },
  });
  const line = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolve);
    lines.once("close", () => reject(new Error("robustseg-worker exited before its readiness line")));
    setTimeout(() => reject(new Error("no readiness line within 120 s")), 120_000);
  });
  const { address } = JSON.parse(line);
  const probe = run(venvPython, ["-c", `
import grpc, robustseg_worker
from robustseg_worker.proto.robustseg.v1 import worker_service_pb2 as w, worker_service_pb2_grpc as g
stub = g.WorkerServiceStub(grpc.insecure_channel(${JSON.stringify(address)}))
info = stub.GetInfo(w.GetInfoRequest(), timeout=30)
assert robustseg_worker.__file__.startswith(${JSON.stringify(venv)}), robustseg_worker.__file__
print(info.version, "predict" in info.capabilities, "open_inference_protocol" in info.capabilities)
stub.Shutdown(w.ShutdownRequest(), timeout=10)
`], { cwd: tmp, env: { ...process.env, PYTHONPATH: "" } });
  const code = await new Promise((resolve) => child.once("exit", resolve));
  assert(probe.stdout.trim().endsWith("True True"), `GetInfo said ${probe.stdout}`);
  assert(code === 0, `the worker exited with ${code} after Shutdown`);
  return `GetInfo ${probe.stdout.trim().split(" ")[0]}, exit ${code} after Shutdown`;
});

await check("the attack library imports without grpc or the server", () => {
  const out = run(venvPython, ["-c", "import sys, robustseg_worker.attacks as a; print(a.pgd.__module__, 'grpc' in sys.modules)"], { cwd: tmp, env: { ...process.env, PYTHONPATH: "" } });
  assert(out.stdout.trim() === "robustseg_worker.attacks.pgd False", out.stdout);
});

await check("examples/embed/python_service.py runs with the installed package", () => {
  const out = run(venvPython, [join(root, "examples", "embed", "python_service.py"), "--image", image, "--workspace", join(tmp, "ws-py")], { cwd: tmp, env: { ...process.env, PYTHONPATH: "" } });
  const summary = JSON.parse(out.stdout);
  const shares = Object.values(summary.class_shares).reduce((a, b) => a + b, 0);
  assert(Math.abs(shares - 1) < 1e-5, `class shares sum to ${shares}`);
  assert(summary.predict_matches_the_module === true, "Predict and the module disagree");
  assert(summary.pgd_linf <= 0.01 + 1e-6, `PGD moved pixels by ${summary.pgd_linf}`);
  return `${summary.width}x${summary.height}, background ${(summary.class_shares.background * 100).toFixed(1)}%, ${out.seconds.toFixed(1)} s`;
});

await check("npm pack, install into a project outside the repository, run examples/embed/ts_service.mjs", () => {
  const packed = run("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: root });
  const tarball = join(tmp, packed.stdout.trim().split("\n").pop());
  const listing = run("tar", ["-tzf", tarball]).stdout;
  for (const needed of ["package/dist/index.js", "package/dist/index.d.ts", "package/python_worker/robustseg_worker/server.py", "package/bin/robustseg.mjs"]) {
    assert(listing.includes(needed), `${needed} is missing from the tarball`);
  }
  assert(!listing.includes("__pycache__") && !listing.includes("package/ts/"), "the tarball carries sources or caches it should not");
  const app = join(tmp, "app");
  run("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "robustseg-consumer", private: true, type: "module" }));
  const installed = run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: app });
  copyFileSync(join(root, "examples", "embed", "ts_service.mjs"), join(app, "ts_service.mjs"));
  const out = run("node", ["ts_service.mjs", image, "", join(tmp, "ws-ts")], { cwd: app, env: { ...process.env, ROBUSTSEG_PYTHON: venvPython, PYTHONPATH: "" } });
  const summary = JSON.parse(out.stdout);
  const shares = Object.values(summary.classShares).reduce((a, b) => a + b, 0);
  assert(Math.abs(shares - 1) < 1e-9, `class shares sum to ${shares}`);
  assert(summary.probe && summary.probe.linf <= 0.01 + 1e-6, `probe: ${JSON.stringify(summary.probe)}`);
  const cli = run(join(app, "node_modules", ".bin", "robustseg"), ["--help"], { cwd: app });
  assert(cli.stdout.includes("predict") && cli.stdout.includes("probe"), "the packaged CLI lacks predict/probe");
  return `pack ${packed.seconds.toFixed(0)} s, install ${installed.seconds.toFixed(0)} s, example ${out.seconds.toFixed(1)} s`;
});

rmSync(tmp, { recursive: true, force: true });
const passed = results.filter(Boolean).length;
console.log(`packages: ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length ? 0 : 1);
