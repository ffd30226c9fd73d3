import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import {
  aggregateSelection,
  appendSelectionRecords,
  formatSelectionAggregate,
  formatSelectionRecord,
  parseSelectionRecords,
  readSelectionRecords,
  toSelectionRecord,
  toSelectionRecords,
  writeSelectionRecords,
  type SelectionRecord,
} from "./record.js";
import { SelectionError } from "./signs.js";
import { selectSigns, type ImageSelection } from "./strategies.js";
import { syntheticLoss, syntheticScorer } from "./synthetic.js";

const NAMES = ["background", "neoplastic", "inflammatory"];

const SELECTIONS: ImageSelection[] = [
  { index: 0, signs: [0, 1, -1], cleanLoss: 1.0, chosenLoss: 0.5, candidatesScored: 27, strategy: "exhaustive" },
  { index: 1, signs: [0, 0, 0], cleanLoss: 0.8, chosenLoss: 0.8, candidatesScored: 27, strategy: "exhaustive" },
  { index: 2, signs: [1, 1, 0], cleanLoss: 0.5, chosenLoss: 0.25, candidatesScored: 11, strategy: "greedy", sweeps: 3, converged: true },
  { index: 5, signs: [0, 1, -1], cleanLoss: 0.7, chosenLoss: 0.6, candidatesScored: 7, strategy: "beam(1)" },
];

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("record", () => {
  it("has the fields of one choice, readable per class", () => {
    const r = toSelectionRecord(SELECTIONS[2] as ImageSelection, NAMES);
    expect(r).toEqual({
      index: 2,
      signs: [1, 1, 0],
      actions: { background: "add", neoplastic: "add", inflammatory: "skip" },
      cleanLoss: 0.5,
      chosenLoss: 0.25,
      lossReduction: 0.25,
      candidatesScored: 11,
      strategy: "greedy",
      sweeps: 3,
      converged: true,
    });
    expect(formatSelectionRecord(r)).toBe(
      '{"index":2,"signs":[1,1,0],"actions":{"background":"add","neoplastic":"add","inflammatory":"skip"},"cleanLoss":0.5,"chosenLoss":0.25,"lossReduction":0.25,"candidatesScored":11,"strategy":"greedy","sweeps":3,"converged":true}',
    );
    expect(toSelectionRecord(SELECTIONS[0] as ImageSelection).actions).toEqual({ class0: "skip", class1: "add", class2: "remove" });
    expect(() => toSelectionRecord(SELECTIONS[0] as ImageSelection, ["a", "a", "b"])).toThrow(/twice/);
    expect(() => toSelectionRecord(SELECTIONS[0] as ImageSelection, ["a"])).toThrow(/1 class names/);
    expect(() => toSelectionRecord({ ...(SELECTIONS[0] as ImageSelection), cleanLoss: Infinity })).toThrow(SelectionError);
  });

  it("round-trips through a JSONL file, appended in two parts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "robustseg-selection-"));
    dirs.push(dir);
    const file = join(dir, "sub", "method-two.jsonl");
    const records = toSelectionRecords(SELECTIONS, NAMES);
    await appendSelectionRecords(file, records.slice(0, 1));
    await appendSelectionRecords(file, records.slice(1));
    const text = await readFile(file, "utf8");
    expect(text.split("\n")).toHaveLength(5); // 4 lines + trailing newline
    expect(await readSelectionRecords(file)).toEqual(records);
    const whole = join(dir, "whole.jsonl");
    await writeSelectionRecords(whole, records);
    expect(await readFile(whole, "utf8")).toBe(text);
    // a run's records round-trip with full double precision
    const run = await selectSigns(syntheticScorer(syntheticLoss({ classCount: 3, seed: 1, kind: "pairwise" })).scorer, {
      classCount: 3,
      imageIndices: [0, 1, 2, 3],
      strategy: { kind: "beam", width: 2 },
    });
    const runRecords = toSelectionRecords(run, NAMES);
    await writeSelectionRecords(whole, runRecords);
    expect(await readSelectionRecords(whole)).toEqual(runRecords);
  });

  it("reports bad lines by line number and field path", async () => {
    const good = formatSelectionRecord(toSelectionRecord(SELECTIONS[0] as ImageSelection, NAMES));
    expect(() => parseSelectionRecords(`${good}\n{"index":1}\n`)).toThrow(/^line 2: signs:/);
    expect(() => parseSelectionRecords(`${good}\n${good.replace('"signs":[0,1,-1]', '"signs":[0,2,-1]')}\n`)).toThrow(/line 2: signs\.1:/);
    expect(() => parseSelectionRecords(good.replace('"neoplastic":"add"', '"neoplastic":"remove"'))).toThrow(
      /line 1: actions\.neoplastic: is remove but signs\[1\] means add/,
    );
    expect(() => parseSelectionRecords(`${good}\nnot json\n`)).toThrow(/line 2: not JSON/);
    // an interrupted append leaves a partial last line
    const truncated = `${good}\n${good.slice(0, 30)}`;
    expect(() => parseSelectionRecords(truncated)).toThrow(/line 2/);
    expect(parseSelectionRecords(truncated, { tolerateTruncatedTail: true })).toHaveLength(1);
    expect(parseSelectionRecords(`\n${good}\n\n`)).toHaveLength(1);
    const dir = await mkdtemp(join(tmpdir(), "robustseg-selection-"));
    dirs.push(dir);
    await writeFile(join(dir, "x.jsonl"), "[]\n");
    await expect(readSelectionRecords(join(dir, "x.jsonl"))).rejects.toThrow(/line 1/);
  });
});

describe("aggregate", () => {
  it("matches hand-computed counts and means", () => {
    const records: SelectionRecord[] = toSelectionRecords(SELECTIONS, NAMES);
    const a = aggregateSelection(records);
    expect(a.images).toBe(4);
    expect(a.classCount).toBe(3);
    expect(a.strategies).toEqual({ exhaustive: 2, greedy: 1, "beam(1)": 1 });
    expect(a.perClass.map((c) => [c.name, c.added, c.removed, c.skipped])).toEqual([
      ["background", 1, 0, 3],
      ["neoplastic", 3, 0, 1],
      ["inflammatory", 0, 2, 2],
    ]);
    expect(a.perClass[1]?.addedShare).toBe(0.75);
    expect(a.imagesChanged).toBe(3);
    expect(a.supportHistogram).toEqual([1, 0, 3, 0]);
    expect(a.topSigns[0]).toEqual({ key: "0+-", signs: [0, 1, -1], images: 2 });
    expect(a.topSigns).toHaveLength(3);
    expect(a.meanCleanLoss).toBeCloseTo((1 + 0.8 + 0.5 + 0.7) / 4, 12);
    expect(a.meanChosenLoss).toBeCloseTo((0.5 + 0.8 + 0.25 + 0.6) / 4, 12);
    expect(a.meanLossReduction).toBeCloseTo((0.5 + 0 + 0.25 + 0.1) / 4, 12);
    expect(a.maxLossReduction).toBeCloseTo(0.5, 12);
    expect(a.meanRelativeLossReduction).toBeCloseTo((0.5 + 0 + 0.5 + 0.1 / 0.7) / 4, 12);
    expect(a.meanNonZeroSigns).toBe(1.5);
    expect(a.meanCandidatesScored).toBe(18);
    expect(a.totalCandidatesScored).toBe(72);
    const md = formatSelectionAggregate(a);
    expect(md).toContain("| neoplastic | 3 (0.7500) | 0 (0.0000) | 1 (0.2500) |");
    expect(md).toContain("images: 4 (3 changed, 1 kept clean)");
  });

  it("uses given names, handles no records and rejects mixed class counts", () => {
    const records = toSelectionRecords(SELECTIONS, NAMES);
    expect(aggregateSelection(records, ["a", "b", "c"]).perClass.map((c) => c.name)).toEqual(["a", "b", "c"]);
    const empty = aggregateSelection([], NAMES);
    expect(empty).toMatchObject({ images: 0, meanLossReduction: null, meanCandidatesScored: null, totalCandidatesScored: 0 });
    expect(empty.perClass[0]).toMatchObject({ added: 0, addedShare: 0 });
    const other = toSelectionRecord({ ...(SELECTIONS[0] as ImageSelection), signs: [0, 1] });
    expect(() => aggregateSelection([...records, other])).toThrow(/expected 3/);
  });
});
