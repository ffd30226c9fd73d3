// Image files a user points `robustseg predict`/`probe` at: PNG (any kind) or .npy (uint8
// (H, W, 3), or float32 (3, H, W) / (H, W, 3) in [0, 1]); a folder means its image files, sorted.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { ImageInput } from "../client/image-stream.js";
import { readNpy } from "./npy.js";
import { decodePng } from "./png.js";

export const IMAGE_EXTENSIONS = [".png", ".npy"] as const;

export class ImageFileError extends Error {
  override readonly name = "ImageFileError";
}

/** The image files of a file or folder (a folder's own files, not its subfolders), sorted by name. */
export function listImageFiles(input: string): string[] {
  let stat;
  try {
    stat = statSync(input);
  } catch {
    throw new ImageFileError(`--input ${input}: no such file or folder`);
  }
  if (stat.isFile()) {
    if (!IMAGE_EXTENSIONS.includes(extname(input).toLowerCase() as (typeof IMAGE_EXTENSIONS)[number])) {
      throw new ImageFileError(`--input ${input}: not a PNG or .npy file`);
    }
    return [input];
  }
  const files = readdirSync(input)
    .filter((name) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase() as (typeof IMAGE_EXTENSIONS)[number]))
    .sort()
    .map((name) => join(input, name))
    .filter((path) => statSync(path).isFile());
  if (files.length === 0) throw new ImageFileError(`--input ${input}: no .png or .npy files in this folder`);
  return files;
}

/** The file's name without its extension: the name outputs are written under. */
export function imageName(path: string): string {
  return basename(path, extname(path));
}

export function readImageFile(path: string): ImageInput {
  const bytes = readFileSync(path);
  const name = imageName(path);
  if (extname(path).toLowerCase() === ".png") {
    const rgb = decodePng(bytes, path);
    return { name, height: rgb.height, width: rgb.width, pixels: { dtype: "uint8", data: rgb.data } };
  }
  const array = readNpy(bytes, path);
  const [a, b, c] = array.shape;
  if (array.shape.length !== 3) throw new ImageFileError(`${path}: expected a 3-D array (H, W, 3) or (3, H, W), got shape (${array.shape.join(", ")})`);
  if (array.dtype === "uint8") {
    if (c !== 3) throw new ImageFileError(`${path}: uint8 arrays must be (H, W, 3), got (${array.shape.join(", ")})`);
    return { name, height: a as number, width: b as number, pixels: { dtype: "uint8", data: array.data as Uint8Array } };
  }
  const data = array.data as Float32Array;
  if (a === 3) return { name, height: b as number, width: c as number, pixels: { dtype: "float32", data } };
  if (c === 3) {
    const [h, w] = [a as number, b as number];
    const chw = new Float32Array(3 * h * w);
    for (let i = 0; i < h * w; i++) for (let k = 0; k < 3; k++) chw[k * h * w + i] = data[i * 3 + k] as number;
    return { name, height: h, width: w, pixels: { dtype: "float32", data: chw } };
  }
  throw new ImageFileError(`${path}: float32 arrays must be (3, H, W) or (H, W, 3), got (${array.shape.join(", ")})`);
}
