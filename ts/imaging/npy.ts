// NumPy's .npy format (version 1.0): read uint8/float32 arrays, write float32 ones. Enough for
// images (H, W, 3) uint8 or (3, H, W) / (H, W, 3) float32, and probability maps (C, H, W).

export class NpyError extends Error {
  override readonly name = "NpyError";
}

export interface NpyArray {
  dtype: "uint8" | "float32";
  shape: number[];
  data: Uint8Array | Float32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function readNpy(bytes: Buffer, what = "npy"): NpyArray {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw new NpyError(`${what}: not a .npy file`);
  const major = bytes[6] as number;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.subarray(start, start + headerLength).toString("latin1");
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shapeText === undefined) throw new NpyError(`${what}: unreadable .npy header`);
  if (fortran) throw new NpyError(`${what}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLength);
  if (descr === "|u1" || descr === "<u1") {
    if (body.length < count) throw new NpyError(`${what}: ${body.length} bytes for ${count} uint8 values`);
    return { dtype: "uint8", shape, data: new Uint8Array(body.subarray(0, count)) };
  }
  if (descr === "<f4") {
    if (body.length < count * 4) throw new NpyError(`${what}: ${body.length} bytes for ${count} float32 values`);
    const data = new Float32Array(count);
    const view = new DataView(body.buffer, body.byteOffset, count * 4);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    return { dtype: "float32", shape, data };
  }
  throw new NpyError(`${what}: dtype ${descr} is not supported (uint8 or little-endian float32)`);
}

/** A float32 array as .npy bytes (C order, little-endian). */
export function writeNpyFloat32(shape: readonly number[], data: Float32Array): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad so that magic + length + header (ending in a newline) is a multiple of 64 bytes.
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  MAGIC.copy(head);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i] as number, i * 4);
  return Buffer.concat([head, Buffer.from(header, "latin1"), body]);
}
