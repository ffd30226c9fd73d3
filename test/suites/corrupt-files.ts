// The fuzz suite's corpus of corrupt input files, written by the suite itself from a
// seed: PanNuke folds (.npy), folder data sets (PNG, classes.json), and damaged artifacts
// (data.safetensors, weights.safetensors, meta.json). Each case says which file it damaged, so
// the error can be checked to name it.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import { pngChunk } from "../fixtures/report-run-folder.js";

// ---- .npy ----

export function npy(descr: string, shape: readonly number[], data: Buffer, header?: string): Buffer {
  let text = header ?? `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + text.length + 1;
  text += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write("NUMPY", 1, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, "latin1"), data]);
}

const f64 = (values: number[] | Float64Array) => Buffer.from(Float64Array.from(values).buffer);

function unicode(strings: readonly string[], width: number): Buffer {
  const b = Buffer.alloc(strings.length * width * 4);
  strings.forEach((s, i) => [...s].forEach((ch, j) => b.writeUInt32LE(ch.codePointAt(0) ?? 0, (i * width + j) * 4)));
  return b;
}

export interface FoldFiles {
  images: Buffer;
  masks: Buffer;
  types: Buffer;
}

/** A valid fold of n tiles s×s (values 0-255, a few nuclei). */
export function validFold(n = 2, s = 16): FoldFiles {
  const images = new Float64Array(n * s * s * 3).map((_, i) => (i * 37) % 256);
  const masks = new Float64Array(n * s * s * 6);
  for (let x = 0; x < s; x++) masks[x * 6] = 300;
  return {
    images: npy("<f8", [n, s, s, 3], f64(images)),
    masks: npy("<f8", [n, s, s, 6], f64(masks)),
    types: npy("<U6", [n], unicode(Array.from({ length: n }, () => "Breast"), 6)),
  };
}

export interface CorruptCase {
  name: string;
  /** The file (or folder) the error must name. */
  names: string;
}

type FoldMutation = (f: FoldFiles, r: number) => { files: FoldFiles; damaged: keyof FoldFiles; what: string };

const n = 2;
const s = 16;
const FOLD_MUTATIONS: FoldMutation[] = [
  (f, r) => ({ files: { ...f, images: f.images.subarray(0, 16 + Math.floor(r * (f.images.length - 200))) }, damaged: "images", what: "truncated" }),
  (f) => ({ files: { ...f, images: Buffer.concat([Buffer.from("NOTNUMPY"), f.images.subarray(8)]) }, damaged: "images", what: "bad magic" }),
  (f) => ({ files: { ...f, images: npy("", [], Buffer.alloc(0), "[1, 2, 3]") }, damaged: "images", what: "header not a dict" }),
  (f) => ({ files: { ...f, images: npy("<f8", [n, s, s, 4], f64(new Float64Array(n * s * s * 4))) }, damaged: "images", what: "4 channels" }),
  (f) => ({ files: { ...f, images: npy("|O", [n, s, s, 3], Buffer.alloc(64)) }, damaged: "images", what: "object dtype (pickle)" }),
  (f) => ({ files: { ...f, images: npy("<c16", [n, s, s, 3], Buffer.alloc(n * s * s * 3 * 16)) }, damaged: "images", what: "complex dtype" }),
  (f, r) => ({ files: { ...f, images: npy("<f8", [n, s, s, 3], f64(new Float64Array(n * s * s * 3).fill(r < 0.5 ? NaN : Infinity))) }, damaged: "images", what: "NaN/Inf" }),
  (f, r) => ({ files: { ...f, images: npy("<f8", [n, s, s, 3], f64(new Float64Array(n * s * s * 3).fill(256 + r * 1e6))) }, damaged: "images", what: "values above 255" }),
  (f, r) => ({ files: { ...f, images: npy("<f8", [n, s, s, 3], f64(new Float64Array(n * s * s * 3).fill(-1 - r * 100))) }, damaged: "images", what: "negative values" }),
  (f) => ({ files: { ...f, masks: npy("<f8", [n, s, s, 5], f64(new Float64Array(n * s * s * 5))) }, damaged: "masks", what: "5 mask channels" }),
  (f, r) => ({ files: { ...f, masks: npy("<f8", [n, s, s, 6], f64(new Float64Array(n * s * s * 6).fill(-1 - r))) }, damaged: "masks", what: "negative ids" }),
  (f) => ({ files: { ...f, masks: npy("<f8", [n, s, s, 6], f64(new Float64Array(n * s * s * 6).fill(NaN))) }, damaged: "masks", what: "NaN ids" }),
  (f, r) => ({ files: { ...f, masks: f.masks.subarray(0, 128 + Math.floor(r * (f.masks.length - 300))) }, damaged: "masks", what: "truncated" }),
  (f) => ({ files: { ...f, types: npy("<U6", [n + 1], unicode(["a", "b", "c"], 6)) }, damaged: "types", what: "one type too many" }),
  (f) => ({ files: { ...f, types: npy("<f8", [n], f64([1, 2])) }, damaged: "types", what: "numbers for tissue names" }),
  (f) => ({ files: { ...f, types: npy("|O", [n], Buffer.alloc(16)) }, damaged: "types", what: "object dtype (pickle)" }),
  (f) => ({ files: { ...f, images: npy("<f8", [n, s, s, 3], Buffer.alloc(10)) }, damaged: "images", what: "header promises more data than there is" }),
  (f) => ({ files: { ...f, images: npy("<f8", [0, s, s, 3], Buffer.alloc(0)), masks: npy("<f8", [0, s, s, 6], Buffer.alloc(0)), types: npy("<U6", [0], Buffer.alloc(0)) }, damaged: "images", what: "no images" }),
  (f) => ({ files: { ...f, images: npy("<f8", [n, 1, 1, 3], f64(new Float64Array(n * 3).fill(100))), masks: npy("<f8", [n, 1, 1, 6], f64(new Float64Array(n * 6))) }, damaged: "images", what: "1x1 tiles" }),
];

/** `count` damaged PanNuke folds under `root`: each a folder `case-K/Fold 1/`. */
export function writeFoldCorpus(root: string, count: number, seed: number): (CorruptCase & { path: string })[] {
  const cases = fc.sample(fc.record({ m: fc.nat(FOLD_MUTATIONS.length - 1), r: fc.double({ min: 0, max: 1, noNaN: true }) }), { numRuns: count, seed });
  return cases.map(({ m, r }, k) => {
    const { files, damaged, what } = (FOLD_MUTATIONS[k < FOLD_MUTATIONS.length ? k : m] as FoldMutation)(validFold(n, s), r);
    const fold = join(root, `case-${k}`, "Fold 1");
    mkdirSync(fold, { recursive: true });
    for (const [key, data] of Object.entries(files)) writeFileSync(join(fold, `${key}.npy`), data);
    return { name: `npy: ${damaged}.npy ${what}`, names: what === "no images" ? "every split is empty" : `${damaged}.npy`, path: join(root, `case-${k}`) };
  });
}

// ---- PNG ----

/** An 8-bit PNG: colorType 0 (gray) or 2 (RGB), `pixel(x, y)` giving the channel values. */
export function png(width: number, height: number, colorType: 0 | 2, pixel: (x: number, y: number) => number[], bitDepth = 8): Buffer {
  const channels = colorType === 2 ? 3 : 1;
  const bytesPer = bitDepth / 8;
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * channels * bytesPer);
    for (let x = 0; x < width; x++) {
      pixel(x, y).forEach((v, c) => {
        if (bytesPer === 2) row.writeUInt16BE(v, 1 + (x * channels + c) * 2);
        else row[1 + x * channels + c] = v;
      });
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", deflateSync(Buffer.concat(rows))), pngChunk("IEND", Buffer.alloc(0))]);
}

const image = (w = 16, h = 16) => png(w, h, 2, (x, y) => [(x * 13) % 256, (y * 7) % 256, 128]);
const mask = (w = 16, h = 16, value = 1) => png(w, h, 0, (x) => [x < w / 2 ? 0 : value]);

type FolderMutation = (r: number) => { files: Record<string, Buffer | string>; names: string; what: string };
const FOLDER_MUTATIONS: FolderMutation[] = [
  (r) => ({ files: { "images/a.png": image().subarray(0, 8 + Math.floor(r * 60)) }, names: "a.png", what: "truncated image" }),
  () => {
    const bad = image();
    bad[bad.length - 20] = (bad[bad.length - 20] as number) ^ 0xff;
    return { files: { "images/a.png": bad }, names: "a.png", what: "bad CRC / data" };
  },
  () => ({ files: { "images/a.png": Buffer.from("not a png at all") }, names: "a.png", what: "not a PNG" }),
  () => ({ files: { "images/a.png": Buffer.alloc(0) }, names: "a.png", what: "empty file" }),
  (r) => ({ files: { "masks/a.png": mask(16, 16, 3 + Math.floor(r * 250)) }, names: "a.png", what: "mask value beyond the classes" }),
  () => ({ files: { "masks/a.png": mask(12, 16) }, names: "a.png", what: "mask size differs from the image" }),
  (r) => ({ files: { "masks/a.png": png(16, 16, 0, () => [256 + Math.floor(r * 60000)], 16) }, names: "a.png", what: "16-bit mask with values past 255" }),
  () => ({ files: { "masks/a.png": image() }, names: "a.png", what: "RGB mask" }),
  () => ({ files: { "masks/a.png": "DELETE" }, names: "a.png", what: "image without a mask" }),
  () => ({ files: { "images/a.png": "DELETE", "images/b.png": "DELETE" }, names: "images", what: "no images" }),
  () => ({ files: { "classes.json": "[\"bg\", " }, names: "classes.json", what: "truncated classes.json" }),
  () => ({ files: { "classes.json": '{"0": "bg"}' }, names: "classes.json", what: "classes.json not a list" }),
  () => ({ files: { "classes.json": "[]" }, names: "classes.json", what: "no classes" }),
  () => ({ files: { "images/a.png": png(1, 1, 2, () => [1, 2, 3]), "masks/a.png": png(1, 1, 0, () => [0]) }, names: "a.png", what: "1x1 tile" }),
];

/** `count` damaged folder data sets under `root`: each `case-K/` with images/, masks/, classes.json. */
export function writeFolderCorpus(root: string, count: number, seed: number): (CorruptCase & { path: string })[] {
  const cases = fc.sample(fc.record({ m: fc.nat(FOLDER_MUTATIONS.length - 1), r: fc.double({ min: 0, max: 1, noNaN: true }) }), { numRuns: count, seed });
  return cases.map(({ m, r }, k) => {
    const folder = join(root, `case-${k}`);
    const base: Record<string, Buffer | string> = {
      "images/a.png": image(),
      "images/b.png": image(),
      "masks/a.png": mask(),
      "masks/b.png": mask(),
      "classes.json": JSON.stringify(["background", "nucleus", "other"]),
    };
    const { files, names, what } = (FOLDER_MUTATIONS[k < FOLDER_MUTATIONS.length ? k : m] as FolderMutation)(r);
    for (const [name, data] of Object.entries({ ...base, ...files })) {
      const path = join(folder, name);
      mkdirSync(join(path, ".."), { recursive: true });
      if (data === "DELETE") rmSync(path, { force: true });
      else writeFileSync(path, data);
    }
    return { name: `png: ${what}`, names, path: folder };
  });
}

// ---- artifacts: safetensors and meta.json ----

/** Rewrites the manifest entry of `file` so the checksum agrees (what a careless hand edit leaves). */
export function rewriteManifest(artifactDir: string, file: string): void {
  const manifestPath = join(artifactDir, "manifest.json");
  if (!existsSync(manifestPath)) return;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { files: Record<string, { sha256: string; bytes: number }> };
  const data = readFileSync(join(artifactDir, file));
  manifest.files[file] = { sha256: createHash("sha256").update(data).digest("hex"), bytes: data.length };
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

type ArtifactMutation = (raw: Buffer, r: number) => { data: Buffer; what: string };

function safetensorsHeader(raw: Buffer): { header: Record<string, unknown>; body: Buffer } {
  const n = Number(raw.readBigUInt64LE(0));
  return { header: JSON.parse(raw.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>, body: raw.subarray(8 + n) };
}

function withHeader(header: unknown, body: Buffer): Buffer {
  const text = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, text, body]);
}

export const SAFETENSORS_MUTATIONS: ArtifactMutation[] = [
  (raw, r) => ({ data: raw.subarray(0, Math.floor(r * raw.length)), what: "truncated" }),
  (raw, r) => {
    const out = Buffer.from(raw);
    for (let i = 0; i < 64; i++) {
      const at = Math.floor(((r + i / 64) % 1) * out.length);
      out[at] = (out[at] as number) ^ 0x55;
    }
    return { data: out, what: "64 flipped bytes" };
  },
  (raw) => {
    const out = Buffer.from(raw);
    out.writeBigUInt64LE(2n ** 62n, 0);
    return { data: out, what: "header length 2^62" };
  },
  (raw) => {
    const { body } = safetensorsHeader(raw);
    const bad = Buffer.from("{not json");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(bad.length));
    return { data: Buffer.concat([len, bad, body]), what: "header not JSON" };
  },
  (raw) => {
    const { header, body } = safetensorsHeader(raw);
    for (const v of Object.values(header)) if (v && typeof v === "object" && "data_offsets" in v) (v as { data_offsets: number[] }).data_offsets = [0, 10 ** 12];
    return { data: withHeader(header, body), what: "offsets beyond the file" };
  },
  (raw) => {
    const { header, body } = safetensorsHeader(raw);
    for (const v of Object.values(header)) if (v && typeof v === "object" && "dtype" in v) (v as { dtype: string }).dtype = "F8_E9";
    return { data: withHeader(header, body), what: "unknown dtype" };
  },
  (raw) => {
    const { header, body } = safetensorsHeader(raw);
    for (const v of Object.values(header)) if (v && typeof v === "object" && "shape" in v) (v as { shape: number[] }).shape = [-1];
    return { data: withHeader(header, body), what: "negative shape" };
  },
  (raw) => {
    const { header, body } = safetensorsHeader(raw);
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    delete header[names[0] as string];
    return { data: withHeader(header, body), what: "a tensor missing" };
  },
];

export const META_MUTATIONS: ArtifactMutation[] = [
  (raw, r) => ({ data: raw.subarray(0, Math.floor(r * raw.length)), what: "truncated" }),
  () => ({ data: Buffer.from("[1, 2, 3]"), what: "not an object" }),
  () => ({ data: Buffer.from("null"), what: "null" }),
  (raw) => {
    const meta = JSON.parse(raw.toString()) as Record<string, unknown>;
    delete meta.class_names;
    return { data: Buffer.from(JSON.stringify(meta)), what: "class_names missing" };
  },
  (raw) => {
    const meta = JSON.parse(raw.toString()) as Record<string, unknown>;
    for (const k of ["num_images", "height", "num_classes"]) if (k in meta) meta[k] = "many";
    return { data: Buffer.from(JSON.stringify(meta)), what: "a size that is a string" };
  },
  (raw) => {
    const meta = JSON.parse(raw.toString()) as Record<string, unknown>;
    for (const k of ["num_images", "width", "num_classes"]) if (k in meta) meta[k] = -5;
    return { data: Buffer.from(JSON.stringify(meta)), what: "a negative size" };
  },
  (raw) => {
    const meta = JSON.parse(raw.toString()) as Record<string, unknown>;
    meta.class_names = [1, 2, 3];
    return { data: Buffer.from(JSON.stringify(meta)), what: "class names that are numbers" };
  },
  (raw) => ({ data: Buffer.from(raw.toString().replace(/"/g, "'")), what: "single quotes" }),
];

/** Damages `file` of an artifact with mutation `m`; with `fixManifest` the checksum then agrees. */
export function damageArtifact(artifactDir: string, file: string, mutations: ArtifactMutation[], m: number, r: number, fixManifest: boolean): string {
  const raw = readFileSync(join(artifactDir, file));
  const { data, what } = (mutations[m % mutations.length] as ArtifactMutation)(raw, r);
  writeFileSync(join(artifactDir, file), data);
  if (fixManifest) rewriteManifest(artifactDir, file);
  return `${basename(file)} ${what}${fixManifest ? " (manifest agrees)" : ""}`;
}
