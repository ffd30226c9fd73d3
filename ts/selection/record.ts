// The record of method two's choices (the piece the paper says its code lacked): one JSON line
// per image, a JSONL writer and reader, and an aggregate over a set of records.

import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

import { writeFileAtomic } from "../files/atomic.js";
import { checkReplaceable } from "../files/output-target.js";

import { nonZeroCount, SelectionError, signAction, signKey, type Sign, type SignAction } from "./signs.js";
import type { ImageSelection, SelectionRun } from "./strategies.js";

/** One line of the record. */
export interface SelectionRecord {
  /** The image's index in its dataset. */
  index: number;
  /** s*, one entry per class. */
  signs: Sign[];
  /** Readable s*: class name → "add" (+1) | "remove" (−1) | "skip" (0), in class order. */
  actions: Record<string, SignAction>;
  cleanLoss: number;
  chosenLoss: number;
  /** cleanLoss − chosenLoss (≥ 0). */
  lossReduction: number;
  candidatesScored: number;
  /** "exhaustive", "greedy", "beam(k)", "surrogate". */
  strategy: string;
  /** Greedy only. */
  sweeps?: number;
  converged?: boolean;
}

/** Class names used when none are given: "class0", "class1", … */
export function defaultClassNames(classCount: number): string[] {
  return Array.from({ length: classCount }, (_, c) => `class${c}`);
}

function checkClassNames(names: readonly string[], classCount: number): void {
  if (names.length !== classCount) {
    throw new SelectionError(`got ${names.length} class names for ${classCount} classes`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (n.length === 0) throw new SelectionError("class names must be non-empty");
    if (seen.has(n)) throw new SelectionError(`class name ${JSON.stringify(n)} is listed twice`);
    seen.add(n);
  }
}

function finite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new SelectionError(`${what} is ${v}; the record holds finite losses only`);
  return v;
}

/** The record line of one image's choice. */
export function toSelectionRecord(sel: ImageSelection, classNames?: readonly string[]): SelectionRecord {
  const names = classNames ?? defaultClassNames(sel.signs.length);
  checkClassNames(names, sel.signs.length);
  const actions: Record<string, SignAction> = {};
  sel.signs.forEach((s, c) => {
    actions[names[c] as string] = signAction(s);
  });
  const rec: SelectionRecord = {
    index: sel.index,
    signs: sel.signs.slice(),
    actions,
    cleanLoss: finite(sel.cleanLoss, `clean loss of image ${sel.index}`),
    chosenLoss: finite(sel.chosenLoss, `chosen loss of image ${sel.index}`),
    lossReduction: sel.cleanLoss - sel.chosenLoss,
    candidatesScored: sel.candidatesScored,
    strategy: sel.strategy,
  };
  if (sel.sweeps !== undefined) rec.sweeps = sel.sweeps;
  if (sel.converged !== undefined) rec.converged = sel.converged;
  return rec;
}

export function toSelectionRecords(
  run: SelectionRun | readonly ImageSelection[],
  classNames?: readonly string[],
): SelectionRecord[] {
  const results = "results" in run ? run.results : run;
  return results.map((r) => toSelectionRecord(r, classNames));
}

/** One JSONL line (no trailing newline). */
export function formatSelectionRecord(r: SelectionRecord): string {
  return JSON.stringify(r);
}

/** JSONL text of records, one line each, newline-terminated. */
export function formatSelectionRecords(records: readonly SelectionRecord[]): string {
  return records.map((r) => formatSelectionRecord(r) + "\n").join("");
}

const ACTION = z.enum(["add", "remove", "skip"]);
const INTEGER_KEY = /^(0|[1-9]\d*)$/;

export const selectionRecordSchema = z
  .object({
    index: z.int().min(0),
    signs: z.array(z.union([z.literal(-1), z.literal(0), z.literal(1)])).min(1),
    actions: z.record(z.string(), ACTION),
    cleanLoss: z.number(),
    chosenLoss: z.number(),
    lossReduction: z.number(),
    candidatesScored: z.int().min(1),
    strategy: z.string().min(1),
    sweeps: z.int().min(1).optional(),
    converged: z.boolean().optional(),
  })
  .superRefine((r, ctx) => {
    const keys = Object.keys(r.actions);
    if (keys.length !== r.signs.length) {
      ctx.addIssue({
        code: "custom",
        path: ["actions"],
        message: `has ${keys.length} classes but signs has ${r.signs.length}`,
      });
      return;
    }
    // Integer-like keys are reordered by JavaScript objects; check the order only without them.
    if (keys.some((k) => INTEGER_KEY.test(k))) return;
    keys.forEach((k, c) => {
      const expected = signAction(r.signs[c] as Sign);
      if (r.actions[k] !== expected) {
        ctx.addIssue({ code: "custom", path: ["actions", k], message: `is ${r.actions[k]} but signs[${c}] means ${expected}` });
      }
    });
  });

export interface ReadOptions {
  /** Ignore a last line that is not valid JSON (a writer interrupted mid-line). Default false. */
  readonly tolerateTruncatedTail?: boolean;
}

/** Parses JSONL text; errors name the line and the field path. Blank lines are skipped. */
export function parseSelectionRecords(text: string, options: ReadOptions = {}): SelectionRecord[] {
  const lines = text.split("\n");
  const out: SelectionRecord[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      const isTail = lines.slice(i + 1).every((l) => l.trim() === "") && !text.endsWith("\n");
      if (options.tolerateTruncatedTail && isTail) return;
      throw new SelectionError(`line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    const parsed = selectionRecordSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue && issue.path.length > 0 ? issue.path.join(".") : "(record)";
      throw new SelectionError(`line ${i + 1}: ${path}: ${issue?.message ?? "invalid"}`);
    }
    out.push(parsed.data as SelectionRecord);
  });
  return out;
}

/** Appends records to a JSONL file (created, with its folder, when missing). */
export async function appendSelectionRecords(file: string, records: readonly SelectionRecord[]): Promise<void> {
  if (records.length === 0) return;
  await mkdir(dirname(file), { recursive: true });
  // Appending opens the target as it is: a FIFO there would block, a device swallow the records.
  checkReplaceable(file);
  await appendFile(file, formatSelectionRecords(records), "utf8");
}

/** Writes a whole JSONL file atomically (temporary file, then rename). */
export async function writeSelectionRecords(file: string, records: readonly SelectionRecord[]): Promise<void> {
  await writeFileAtomic(file, formatSelectionRecords(records), "record.write");
}

export async function readSelectionRecords(file: string, options: ReadOptions = {}): Promise<SelectionRecord[]> {
  return parseSelectionRecords(await readFile(file, "utf8"), options);
}

// ---------------------------------------------------------------------------------------------
// Aggregate.

export interface ClassActionCounts {
  readonly class: number;
  readonly name: string;
  /** Images whose s* adds this class's direction (+1), removes it (−1), skips it (0). */
  readonly added: number;
  readonly removed: number;
  readonly skipped: number;
  /** The same as shares of all images (0 when there are none). */
  readonly addedShare: number;
  readonly removedShare: number;
  readonly skippedShare: number;
}

export interface SelectionAggregate {
  readonly images: number;
  readonly classCount: number;
  /** Records per strategy label. */
  readonly strategies: Record<string, number>;
  readonly perClass: ClassActionCounts[];
  /** Images whose s* is not 0 (the clean image was replaced). */
  readonly imagesChanged: number;
  /** supportHistogram[n] = images whose s* has n non-zero signs, n = 0..C. */
  readonly supportHistogram: number[];
  /** The most frequent s* (key '-'|'0'|'+' per class), most frequent first, at most 10. */
  readonly topSigns: { key: string; signs: Sign[]; images: number }[];
  /** Means over images; null when there are no images. */
  readonly meanCleanLoss: number | null;
  readonly meanChosenLoss: number | null;
  readonly meanLossReduction: number | null;
  readonly maxLossReduction: number | null;
  /** Mean of (clean − chosen) / clean over images with a positive clean loss. */
  readonly meanRelativeLossReduction: number | null;
  readonly meanNonZeroSigns: number | null;
  readonly meanCandidatesScored: number | null;
  readonly totalCandidatesScored: number;
}

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Aggregates records (all with the same class count). Class names: the ones given, else the
 * first record's action names, else "class0"….
 */
export function aggregateSelection(
  records: readonly SelectionRecord[],
  classNames?: readonly string[],
): SelectionAggregate {
  const first = records[0];
  const classCount = classNames?.length ?? first?.signs.length ?? 0;
  const names =
    classNames?.slice() ??
    (first && Object.keys(first.actions).length === classCount
      ? Object.keys(first.actions)
      : defaultClassNames(classCount));
  if (classNames) checkClassNames(classNames, classCount);
  const added = new Array<number>(classCount).fill(0);
  const removed = new Array<number>(classCount).fill(0);
  const skipped = new Array<number>(classCount).fill(0);
  const support = new Array<number>(classCount + 1).fill(0);
  const strategies: Record<string, number> = {};
  const patterns = new Map<string, { signs: Sign[]; images: number }>();
  records.forEach((r, i) => {
    if (r.signs.length !== classCount) {
      throw new SelectionError(`record ${i} (image ${r.index}) has ${r.signs.length} signs, expected ${classCount}`);
    }
    r.signs.forEach((s, c) => {
      const arr = s === 1 ? added : s === -1 ? removed : skipped;
      arr[c] = (arr[c] ?? 0) + 1;
    });
    const nz = nonZeroCount(r.signs);
    support[nz] = (support[nz] ?? 0) + 1;
    strategies[r.strategy] = (strategies[r.strategy] ?? 0) + 1;
    const key = signKey(r.signs);
    const p = patterns.get(key);
    if (p) p.images++;
    else patterns.set(key, { signs: r.signs.slice(), images: 1 });
  });
  const n = records.length;
  const share = (k: number): number => (n === 0 ? 0 : k / n);
  const reductions = records.map((r) => r.cleanLoss - r.chosenLoss);
  const relative = records.filter((r) => r.cleanLoss > 0).map((r) => (r.cleanLoss - r.chosenLoss) / r.cleanLoss);
  return {
    images: n,
    classCount,
    strategies,
    perClass: names.map((name, c) => ({
      class: c,
      name,
      added: added[c] ?? 0,
      removed: removed[c] ?? 0,
      skipped: skipped[c] ?? 0,
      addedShare: share(added[c] ?? 0),
      removedShare: share(removed[c] ?? 0),
      skippedShare: share(skipped[c] ?? 0),
    })),
    imagesChanged: n - (support[0] ?? 0),
    supportHistogram: support,
    topSigns: [...patterns.entries()]
      .map(([key, v]) => ({ key, signs: v.signs, images: v.images }))
      .sort((a, b) => b.images - a.images || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, 10),
    meanCleanLoss: mean(records.map((r) => r.cleanLoss)),
    meanChosenLoss: mean(records.map((r) => r.chosenLoss)),
    meanLossReduction: mean(reductions),
    maxLossReduction: n === 0 ? null : Math.max(...reductions),
    meanRelativeLossReduction: mean(relative),
    meanNonZeroSigns: mean(records.map((r) => nonZeroCount(r.signs))),
    meanCandidatesScored: mean(records.map((r) => r.candidatesScored)),
    totalCandidatesScored: records.reduce((a, r) => a + r.candidatesScored, 0),
  };
}

const fmt = (v: number | null, digits = 4): string => (v === null ? "–" : v.toFixed(digits));
// Shares as fractions with four digits, like every other figure the tool prints.
const pct = (v: number): string => v.toFixed(4);

/** Markdown rendering of an aggregate (per-class table and totals). */
export function formatSelectionAggregate(a: SelectionAggregate): string {
  const lines = [
    "| class | added (+1) | removed (−1) | skipped (0) |",
    "|---|---:|---:|---:|",
    ...a.perClass.map(
      (c) =>
        `| ${c.name} | ${c.added} (${pct(c.addedShare)}) | ${c.removed} (${pct(c.removedShare)}) | ${c.skipped} (${pct(c.skippedShare)}) |`,
    ),
    "",
    `images: ${a.images} (${a.imagesChanged} changed, ${a.images - a.imagesChanged} kept clean); strategies: ${Object.entries(
      a.strategies,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `mean loss: clean ${fmt(a.meanCleanLoss)}, chosen ${fmt(a.meanChosenLoss)}, reduction ${fmt(a.meanLossReduction)} (max ${fmt(a.maxLossReduction)})`,
    `mean non-zero signs: ${fmt(a.meanNonZeroSigns, 2)}; candidates scored: mean ${fmt(a.meanCandidatesScored, 1)}, total ${a.totalCandidatesScored}`,
  ];
  return lines.join("\n");
}
