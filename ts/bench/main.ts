// `npm run bench`: runs the benchmark suite on the worker's device, writes
// bench/results/<date>-<device>.json and .md beside it, and prints the Markdown table.
//
//   npm run bench -- [--size smoke|small|paper] [--device auto|cpu|cuda] [--repeats N]
//                    [--steps N] [--only GROUP,...] [--out DIR] [--json]
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { writeFileAtomic } from "../files/atomic.js";
import { outputFolderProblem } from "../files/paths.js";
import { repoRoot } from "../worker/paths.js";
import { renderBenchMarkdown } from "./report.js";
import { SIZE_NAMES, SIZES, type SizeName } from "./sizes.js";
import { BENCH_GROUPS, type BenchGroup, type BenchResults, runSuite } from "./suite.js";

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be an integer >= 1");
  return n;
}

/** `--only pgd,curves`: measurement groups, each known, none twice. */
export function parseGroups(value: string): BenchGroup[] {
  const names = value.split(",").map((v) => v.trim()).filter((v) => v.length > 0);
  const unknown = names.find((n) => !(BENCH_GROUPS as readonly string[]).includes(n));
  if (unknown !== undefined || names.length === 0) {
    throw new InvalidArgumentError(`must be a comma-separated list of ${BENCH_GROUPS.join(", ")}${unknown !== undefined ? `; got ${unknown}` : ""}`);
  }
  return BENCH_GROUPS.filter((g) => names.includes(g));
}

/** bench/results/<date>-<device>.json: the device as a file-name-safe slug. */
export function resultBaseName(results: Pick<BenchResults, "startedAt" | "machine" | "size" | "groups">): string {
  const device = String(results.machine.device ?? "unknown").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const size = results.size === "small" ? "" : `-${results.size}`;
  const only = results.groups.length < BENCH_GROUPS.length ? `-${results.groups.join("+")}` : "";
  return `${results.startedAt.slice(0, 10)}-${device || "unknown"}${size}${only}`;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = new Command("npm run bench --")
    .description("The robustseg benchmark suite: PGD against torchattacks, method one, method two's strategies, control-plane overhead and cost curves, each a median of interleaved repeats.")
    .addOption(new Option("--size <size>", "smoke (seconds), small (minutes on 2 CPU cores) or paper (width 32, 256×256, 100-step PGD, batch 16)").choices(SIZE_NAMES).default("small"))
    .addOption(new Option("--device <device>", "the worker's device").choices(["auto", "cpu", "cuda"]).default("auto"))
    .option("--repeats <n>", "repeats per figure (default: the size's)", positiveInt)
    .option("--steps <n>", "override the PGD, method-one and control-plane steps (the paper size on CPU takes hours at 100)", positiveInt)
    .option("--only <groups>", `measure only these groups (comma-separated: ${BENCH_GROUPS.join(", ")}); the others are null in the JSON`, parseGroups)
    .option("--out <dir>", "results folder", join(repoRoot, "bench", "results"))
    .option("--json", "print the JSON instead of the table")
    .option("--quiet", "no progress lines on stderr");
  program.parse(argv);
  // Before hours of measuring: --out must be a folder (or nothing yet), never a file or device.
  const outProblem = outputFolderProblem(program.opts<{ out: string }>().out);
  if (outProblem) program.error(`error: --out: ${outProblem}`);
  const o = program.opts<{ size: SizeName; device: "auto" | "cpu" | "cuda"; repeats?: number; steps?: number; only?: BenchGroup[]; out: string; json?: boolean; quiet?: boolean }>();
  const results = await runSuite({
    size: SIZES[o.size],
    device: o.device,
    repeats: o.repeats,
    steps: o.steps,
    only: o.only,
    log: o.quiet ? undefined : (line) => process.stderr.write(`[bench] ${line}\n`),
  });
  const out = resolve(o.out);
  await mkdir(out, { recursive: true });
  const base = join(out, resultBaseName(results));
  const markdown = renderBenchMarkdown(results);
  await writeFileAtomic(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFileAtomic(`${base}.md`, markdown);
  process.stdout.write(o.json ? `${JSON.stringify(results, null, 2)}\n` : `${markdown}\nwritten: ${base}.json, ${base}.md\n`);
}
