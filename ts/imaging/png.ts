// PNG files: decoding any PNG an image tool writes (pngjs: every bit depth, palette, alpha,
// interlace) to RGB, and writing class masks as palette PNGs (colour type 3: the pixel values
// are the class indices, the PLTE chunk the report's class colours) and RGB images.
import { deflateSync } from "node:zlib";
import { PNG } from "pngjs";

export class PngError extends Error {
  override readonly name = "PngError";
}

/** (H, W, 3) uint8 RGB, row-major. Alpha is dropped; grey is repeated to RGB; 16-bit is rounded. */
export interface RgbImage {
  height: number;
  width: number;
  data: Uint8Array;
}

export function decodePng(bytes: Buffer, what = "png"): RgbImage {
  let png: PNG;
  try {
    png = PNG.sync.read(bytes, { skipRescale: false });
  } catch (error) {
    throw new PngError(`${what}: not a readable PNG (${(error as Error).message})`);
  }
  // pngjs always hands back 8-bit RGBA (16-bit rescaled to 8 bits).
  const { width, height } = png;
  const rgba = png.data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    data[i * 3] = rgba[j] as number;
    data[i * 3 + 1] = rgba[j + 1] as number;
    data[i * 3 + 2] = rgba[j + 2] as number;
  }
  return { height, width, data };
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buffers: Buffer[]): number {
  let c = 0xffffffff;
  for (const b of buffers) for (const byte of b) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(kind: string, payload: Buffer): Buffer {
  const type = Buffer.from(kind, "latin1");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32([type, payload]));
  return Buffer.concat([head, type, payload, tail]);
}

function encode(width: number, height: number, colourType: number, bytesPerPixel: number, pixels: Uint8Array, extra: Buffer[] = []): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = colourType;
  const stride = width * bytesPerPixel;
  const raw = Buffer.alloc(height * (stride + 1)); // each row: filter byte 0, then the pixels
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([SIGNATURE, chunk("IHDR", header), ...extra, chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/** "#rrggbb" -> [r, g, b]. */
function rgbOf(color: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) throw new PngError(`colour ${color}: expected #rrggbb`);
  return [parseInt(m[1] as string, 16), parseInt(m[2] as string, 16), parseInt(m[3] as string, 16)];
}

/** A class mask as a palette PNG: pixel value = class index, palette = the class colours. */
export function encodeMaskPng(width: number, height: number, labels: Uint8Array, classColors: readonly string[]): Buffer {
  if (classColors.length < 1 || classColors.length > 256) throw new PngError(`a palette PNG holds 1 to 256 classes, got ${classColors.length}`);
  if (labels.length !== width * height) throw new PngError(`mask of ${labels.length} pixels for ${width}x${height}`);
  const palette = Buffer.from(classColors.flatMap(rgbOf));
  return encode(width, height, 3, 1, labels, [chunk("PLTE", palette)]);
}

/** (H, W, 3) uint8 RGB as a PNG. */
export function encodeRgbPng(image: RgbImage): Buffer {
  return encode(image.width, image.height, 2, 3, image.data);
}
