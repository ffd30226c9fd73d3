import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseSeedList, runSeedSeries, seedRunDir, seedsSchema, specForSeed } from "./seeds.js";

describe("seed lists", () => {
  it("parses --seeds with lists and ranges, refusing junk and repeats", () => {
    expect(parseSeedList("0,1,2")).toEqual([0, 1, 2]);
    expect(parseSeedList(" 3, 0-2 ")).toEqual([3, 0, 1, 2]);
    expect(() => parseSeedList("0,a")).toThrow("--seeds: must be non-negative integers separated by commas (e.g. 0,1,2), got \"0,a\"");
    expect(() => parseSeedList("1,1")).toThrow("--seeds: repeats a seed (1,1)");
    expect(() => parseSeedList("3-1")).toThrow(/runs backwards/);
  });

  it("validates the spec's seeds", () => {
    expect(seedsSchema.safeParse([0, 1]).success).toBe(true);
    expect(seedsSchema.safeParse([]).error?.issues[0]?.message).toBe("needs at least one seed");
    expect(seedsSchema.safeParse([1, 1]).error?.issues[0]?.message).toBe("must not repeat a seed");
    expect(seedsSchema.safeParse([-1]).error?.issues[0]?.message).toBe("must be a non-negative integer");
  });

  it("replaces the training seed, and the data seed only with varyData", () => {
    const spec = { name: "x", data: { source: "synthetic-histology", seed: 7 }, training: { epochs: 2, seed: 0 } };
    expect(specForSeed(spec, 3, false)).toEqual({ name: "x", data: { source: "synthetic-histology", seed: 7 }, training: { epochs: 2, seed: 3 } });
    expect(specForSeed(spec, 3, true).data).toEqual({ source: "synthetic-histology", seed: 3 });
    expect(spec.training.seed).toBe(0); // not modified
  });
});

describe("runSeedSeries", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs each seed in its folder and reads back a finished one for the same spec", async () => {
    dir = await mkdtemp(join(tmpdir(), "robustseg-seeds-"));
    const finished = seedRunDir(dir, 1);
    await mkdir(finished, { recursive: true });
    await writeFile(join(finished, "results.json"), JSON.stringify({ seed: 1, spec: "same" }));
    const other = seedRunDir(dir, 2);
    await mkdir(other, { recursive: true });
    await writeFile(join(other, "results.json"), JSON.stringify({ seed: 2, spec: "older" }));
    const ran: [number, string][] = [];
    const out = await runSeedSeries<{ seed: number; spec: string }>({
      seeds: [0, 1, 2],
      runDir: dir,
      runOne: async (seed, seedDir) => {
        ran.push([seed, seedDir]);
        return { seed, spec: "same" };
      },
      reuse: (_seed, _dir, results) => results.spec === "same",
    });
    expect(ran).toEqual([
      [0, join(dir, "seeds", "seed-0")],
      [2, join(dir, "seeds", "seed-2")],
    ]);
    expect(out.map((o) => [o.seed, o.cached, o.results.spec])).toEqual([
      [0, false, "same"],
      [1, true, "same"],
      [2, false, "same"],
    ]);
  });

  it("stops between seeds when aborted, keeping the seeds already done", async () => {
    dir = await mkdtemp(join(tmpdir(), "robustseg-seeds-"));
    const controller = new AbortController();
    const ran: number[] = [];
    await expect(
      runSeedSeries({
        seeds: [0, 1, 2],
        runDir: dir,
        signal: controller.signal,
        runOne: async (seed) => {
          ran.push(seed);
          return seed;
        },
        onSeedEnd: () => controller.abort(),
      }),
    ).rejects.toThrow();
    expect(ran).toEqual([0]);
  });
});
