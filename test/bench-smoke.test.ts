// `npm run bench` at its smallest size: it runs end to end (worker, driver, torchattacks, CLI) and
// writes a JSON whose shape the report and the lead's notes rely on. Figures are not asserted
// (they are measurements); their presence, types and internal consistency are.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { SIZES } from "../ts/bench/sizes.js";
import { BENCH_SCHEMA, type BenchResults } from "../ts/bench/suite.js";
import { repoRoot } from "../ts/worker/paths.js";

const positive = (x: number | null | undefined) => typeof x === "number" && Number.isFinite(x) && x > 0;

describe("npm run bench -- --size smoke", () => {
  let out = "";
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("writes the JSON and the Markdown table", { timeout: 600_000 }, async () => {
    out = await mkdtemp(join(tmpdir(), "robustseg-bench-smoke-"));
    const run = await execa("node", [join(repoRoot, "bin", "robustseg-bench.mjs"), "--size", "smoke", "--device", "cpu", "--out", out, "--quiet"], {
      reject: false,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const [json = "", md = "", ...rest] = (await readdir(out)).sort();
    expect(rest).toEqual([]);
    expect(json).toMatch(/^\d{4}-\d{2}-\d{2}-cpu-smoke\.json$/);
    expect(md).toBe(json.replace(/\.json$/, ".md"));
    const r = JSON.parse(await readFile(join(out, json), "utf8")) as BenchResults;
    const markdown = await readFile(join(out, md), "utf8");
    expect(run.stdout).toContain(markdown.split("\n")[0]);

    expect(r.schema).toBe(BENCH_SCHEMA);
    expect(r.size).toBe("smoke");
    expect(r.params).toEqual(SIZES.smoke);
    expect(r.machine).toMatchObject({ device: "cpu" });
    expect(typeof r.machine.torch).toBe("string");
    expect(r.load.before).toHaveLength(3);
    expect(r.groups).toEqual(["pgd", "method-one", "method-two", "control-plane", "curves"]);
    if (!r.pgd || !r.methodOne || !r.methodTwo || !r.controlPlane || !r.curves) throw new Error("a group is missing");

    // PGD: three implementations on one batch, a ratio that is the quotient of the two rates.
    for (const rate of [r.pgd.robustseg, r.pgd.worker]) expect(positive(rate.perSecond)).toBe(true);
    expect(r.pgd.torchattacks).not.toBeNull();
    expect(r.pgd.ratioToTorchattacks).toBeCloseTo(r.pgd.robustseg.perSecond! / r.pgd.torchattacks!.perSecond!, 6);
    expect(r.pgd.agreement).not.toBeNull();

    // Method two: exhaustive is the reference; every strategy scores at most its candidates.
    const rows = new Map(r.methodTwo.strategies.map((s) => [s.strategy, s]));
    expect([...rows.keys()]).toEqual(["exhaustive", "greedy", "beam(3)", "beam(9)", "surrogate"]);
    expect(r.methodTwo.exhaustiveCandidates).toBe(3 ** r.methodTwo.classes);
    expect(rows.get("exhaustive")).toMatchObject({ optimumShare: 1, reductionShare: 1, candidatesPerImage: r.methodTwo.exhaustiveCandidates });
    for (const row of rows.values()) {
      expect(row.optimumShare).toBeGreaterThanOrEqual(0);
      expect(row.optimumShare).toBeLessThanOrEqual(1);
      expect(row.candidatesPerImage).toBeLessThanOrEqual(r.methodTwo.exhaustiveCandidates);
      expect(positive(row.secondsPerImage)).toBe(true);
    }

    expect(positive(r.methodOne.inProcess.perSecond)).toBe(true);
    expect(positive(r.controlPlane.inProcessSeconds)).toBe(true);
    expect(positive(r.controlPlane.cliSeconds)).toBe(true);

    // Curves: one point per tile size, one per (class count, strategy).
    expect(r.curves.pgdVsTile.map((p) => p.tile)).toEqual([...SIZES.smoke.curves.tiles]);
    const classes = [...new Set(r.curves.methodTwoVsClasses.map((p) => p.classes))];
    expect(classes).toEqual([...SIZES.smoke.curves.classes]);
    for (const p of r.curves.methodTwoVsClasses) if (p.run) expect(p.candidatesPerImage).toBeLessThanOrEqual(3 ** p.classes);
  });
});
