// The contract's Tensor message ({shape, dtype, little-endian row-major bytes}) to and from
// typed arrays, for the few tensors that cross: method two's sign vectors and losses.
import { DType, type Tensor } from "../generated/robustseg/v1/common.js";

export class TensorError extends Error {
  override readonly name = "TensorError";
}

/** int8 (rows, cols) from a flat Int8Array. */
export function int8Tensor(data: Int8Array, rows: number, cols: number): Tensor {
  if (data.length !== rows * cols) throw new TensorError(`int8 tensor: ${data.length} values for shape (${rows}, ${cols})`);
  return { shape: [rows, cols], dtype: DType.DTYPE_INT8, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

/** A float64 tensor of `expected` values as a Float64Array (copied: aligned, little-endian). */
export function float64Values(tensor: Tensor | undefined, expected: number, what: string): Float64Array {
  if (!tensor) throw new TensorError(`${what}: missing tensor`);
  if (tensor.dtype !== DType.DTYPE_FLOAT64) throw new TensorError(`${what}: dtype ${DType[tensor.dtype] ?? tensor.dtype}, expected float64`);
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  if (count !== expected || tensor.data.byteLength !== expected * 8) {
    throw new TensorError(`${what}: shape (${tensor.shape.join(", ")}) with ${tensor.data.byteLength} bytes, expected ${expected} float64 values`);
  }
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const out = new Float64Array(expected);
  for (let i = 0; i < expected; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

/** A uint8 tensor of `expected` values as a Uint8Array (e.g. ScoreCandidates' exact flags). */
export function uint8Values(tensor: Tensor | undefined, expected: number, what: string): Uint8Array {
  if (!tensor) throw new TensorError(`${what}: missing tensor`);
  if (tensor.dtype !== DType.DTYPE_UINT8) throw new TensorError(`${what}: dtype ${DType[tensor.dtype] ?? tensor.dtype}, expected uint8`);
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  if (count !== expected || tensor.data.byteLength !== expected) {
    throw new TensorError(`${what}: shape (${tensor.shape.join(", ")}) with ${tensor.data.byteLength} bytes, expected ${expected} uint8 values`);
  }
  return Uint8Array.from(tensor.data);
}

/** Float64 values to a (n,) tensor (tests and fakes). */
export function float64Tensor(values: ArrayLike<number>): Tensor {
  const buf = new Uint8Array(values.length * 8);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i] as number, true);
  return { shape: [values.length], dtype: DType.DTYPE_FLOAT64, data: Buffer.from(buf.buffer) };
}

/** An int8 (M, C) tensor's rows (tests and fakes). */
export function int8Rows(tensor: Tensor): number[][] {
  if (tensor.dtype !== DType.DTYPE_INT8 || tensor.shape.length !== 2) throw new TensorError("expected an int8 (M, C) tensor");
  const [m, c] = tensor.shape as [number, number];
  const data = new Int8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return Array.from({ length: m }, (_, i) => Array.from(data.subarray(i * c, (i + 1) * c)));
}
