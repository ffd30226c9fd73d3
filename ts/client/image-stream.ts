// Predict and Probe (predict.proto) from the client's side: images go out as bands of rows that
// fit the message limit, the worker's answer bands are put back together, and the caller gets
// whole images as async events: { $case: "header" | "progress" | "image" | "result", value }.
import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { ConfusionMatrix, Progress, Tensor } from "../generated/robustseg/v1/common.js";
import { DType } from "../generated/robustseg/v1/common.js";
import type {
  ImageChunk,
  ImagePrediction,
  ImageProbe,
  PredictionHeader,
  PredictSummary,
  ProbeSummary,
} from "../generated/robustseg/v1/predict.js";
import { MAX_MESSAGE_BYTES } from "./channel.js";
import { ProtocolError } from "./errors.js";
import { type EventOf, iterateStream, type StreamEvent } from "./streams.js";

/** One image to segment. uint8: (H, W, 3) RGB row-major; float32: (3, H, W) in [0, 1]. */
export interface ImageInput {
  name: string;
  height: number;
  width: number;
  pixels: { dtype: "uint8"; data: Uint8Array } | { dtype: "float32"; data: Float32Array };
}

/** Class indices (H × W, row-major): uint8 up to 256 classes, int32 beyond. */
export type LabelMap = Uint8Array | Int32Array;

export interface PredictedImage {
  index: number;
  name: string;
  height: number;
  width: number;
  labels: LabelMap;
  /** (C, H, W) softmax probabilities, when asked for. */
  probabilities?: Float32Array | undefined;
  classPixelCounts: number[];
}

export interface ProbeFigures {
  /** Rows = clean prediction, columns = prediction on the attacked image. */
  agreement: number[][];
  foregroundPixels: number;
  /** Share of the clean foreground predicted background after the attack (null without foreground). */
  foregroundToBackground: number | null;
  meanIoU: number | null;
  foregroundIoU: number | null;
  pixelAgreement: number;
  linf: number;
}

export interface ProbedImage {
  index: number;
  name: string;
  height: number;
  width: number;
  cleanLabels: LabelMap;
  adversarialLabels: LabelMap;
  /** (3, H, W) in [0, 1], when asked for. */
  adversarialImage?: Float32Array | undefined;
  figures: ProbeFigures;
}

export type PredictStreamEvent =
  | { $case: "header"; value: PredictionHeader }
  | { $case: "progress"; value: Progress }
  | { $case: "image"; value: PredictedImage }
  | { $case: "result"; value: PredictSummary };

export type ProbeStreamEvent =
  | { $case: "header"; value: PredictionHeader }
  | { $case: "progress"; value: Progress }
  | { $case: "image"; value: ProbedImage }
  | { $case: "result"; value: ProbeSummary };

// ---- sending ----

const PIXEL_ARRAYS = { uint8: Uint8Array, float32: Float32Array } as const;

/**
 * Refuses, naming the field, an image the worker would not get as given: a side that is not a
 * whole number >= 1 (an image of height 0 would send no band at all and silently vanish from the
 * results), a dtype other than uint8 or float32, or data of another element type (uint16 values
 * would otherwise travel as float32 and arrive far outside [0, 1]).
 */
export function checkImageInput(image: ImageInput): void {
  const name = typeof image?.name === "string" ? image.name : undefined;
  if (name === undefined) throw new TypeError(`image name: must be a string, got ${typeof image?.name}`);
  for (const side of ["height", "width"] as const) {
    const value: unknown = image[side];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`image ${name}: ${side}: must be an integer >= 1, got ${String(value)}`);
    }
  }
  const dtype: unknown = image.pixels?.dtype;
  if (dtype !== "uint8" && dtype !== "float32") throw new TypeError(`image ${name}: pixels.dtype: must be uint8 or float32, got ${String(dtype)}`);
  const data: unknown = image.pixels.data;
  if (!(data instanceof PIXEL_ARRAYS[dtype])) {
    const got = (data as { constructor?: { name?: string } } | null | undefined)?.constructor?.name ?? typeof data;
    throw new TypeError(`image ${name}: pixels.data: must be a ${PIXEL_ARRAYS[dtype].name} for dtype ${dtype}, got ${got}`);
  }
  const expected = image.height * image.width * 3;
  if (image.pixels.data.length !== expected) {
    throw new RangeError(`image ${name}: pixels.data: ${image.pixels.data.length} values for ${image.width}x${image.height}x3`);
  }
}

/** The image as ImageChunk messages, each within `maxBytes` of pixel data. */
export function imageChunks(image: ImageInput, maxBytes = MAX_MESSAGE_BYTES / 2): ImageChunk[] {
  checkImageInput(image);
  const { height, width, pixels } = image;
  const bytesPerRow = width * 3 * (pixels.dtype === "uint8" ? 1 : 4);
  const rows = Math.max(1, Math.floor(maxBytes / bytesPerRow));
  const chunks: ImageChunk[] = [];
  for (let top = 0; top < height; top += rows) {
    const n = Math.min(rows, height - top);
    let tensor: Tensor;
    if (pixels.dtype === "uint8") {
      const band = pixels.data.subarray(top * width * 3, (top + n) * width * 3);
      tensor = { shape: [n, width, 3], dtype: DType.DTYPE_UINT8, data: Buffer.from(band.buffer, band.byteOffset, band.byteLength) };
    } else {
      const band = Buffer.alloc(3 * n * width * 4);
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < n * width; i++) band.writeFloatLE(pixels.data[c * height * width + top * width + i] as number, (c * n * width + i) * 4);
      }
      tensor = { shape: [3, n, width], dtype: DType.DTYPE_FLOAT32, data: band };
    }
    chunks.push({ name: image.name, height, width, rowOffset: top, pixels: tensor });
  }
  return chunks;
}

async function* requestsOf<R>(first: R, images: Iterable<ImageInput> | AsyncIterable<ImageInput>, wrap: (chunk: ImageChunk) => R): AsyncGenerator<R> {
  yield first;
  for await (const image of images) for (const chunk of imageChunks(image)) yield wrap(chunk);
}

/** Writes the requests with back-pressure while the caller reads the events of the same call. */
async function send<R>(call: ClientDuplexStream<R, unknown>, requests: AsyncIterable<R>, done: { value: boolean }): Promise<void> {
  try {
    for await (const request of requests) {
      if (done.value) return;
      if (!call.write(request)) {
        await new Promise<void>((resolve) => {
          const finish = () => {
            call.off("drain", finish);
            call.off("close", finish);
            call.off("error", finish);
            resolve();
          };
          call.on("drain", finish);
          call.on("close", finish);
          call.on("error", finish);
        });
      }
    }
  } catch (error) {
    // Reading the images failed: end the call; the caller sees this error.
    call.cancel();
    throw error;
  }
  if (!done.value) call.end();
}

/** Runs a duplex call: sends `requests`, yields the oneof events; a failure of either side is thrown. */
export async function* duplexEvents<R, E extends StreamEvent>(
  call: ClientDuplexStream<R, E>,
  requests: AsyncIterable<R>,
  rpc: string,
  signal?: AbortSignal,
): AsyncGenerator<EventOf<E>> {
  const done = { value: false };
  let sendError: unknown;
  const sending = send(call as ClientDuplexStream<R, unknown>, requests, done).catch((error: unknown) => {
    sendError = error;
  });
  try {
    yield* iterateStream<E>(call, rpc, signal);
  } catch (error) {
    if (sendError !== undefined) throw sendError;
    throw error;
  } finally {
    done.value = true;
    await sending;
  }
  if (sendError !== undefined) throw sendError;
}

// ---- receiving ----

function labelsOf(tensor: Tensor | undefined, rpc: string): LabelMap {
  if (!tensor) throw new ProtocolError(rpc, "a band without labels");
  if (tensor.dtype === DType.DTYPE_UINT8) return new Uint8Array(tensor.data);
  if (tensor.dtype === DType.DTYPE_INT64) {
    const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    const out = new Int32Array(tensor.data.byteLength / 8);
    for (let i = 0; i < out.length; i++) out[i] = Number(view.getBigInt64(i * 8, true));
    return out;
  }
  throw new ProtocolError(rpc, `labels of dtype ${DType[tensor.dtype] ?? tensor.dtype}`);
}

function floatsOf(tensor: Tensor, rpc: string): Float32Array {
  if (tensor.dtype !== DType.DTYPE_FLOAT32) throw new ProtocolError(rpc, `expected float32, got ${DType[tensor.dtype] ?? tensor.dtype}`);
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const out = new Float32Array(tensor.data.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Whole-image planes (C, H, W) filled band by band. */
class Planes {
  data: Float32Array | undefined;
  constructor(
    private readonly height: number,
    private readonly width: number,
  ) {}
  put(band: Float32Array, rowOffset: number, rows: number): void {
    const channels = band.length / (rows * this.width);
    this.data ??= new Float32Array(channels * this.height * this.width);
    for (let c = 0; c < channels; c++) {
      this.data.set(band.subarray(c * rows * this.width, (c + 1) * rows * this.width), c * this.height * this.width + rowOffset * this.width);
    }
  }
}

class LabelRows {
  data: LabelMap | undefined;
  constructor(
    private readonly height: number,
    private readonly width: number,
  ) {}
  put(band: LabelMap, rowOffset: number): void {
    this.data ??= band instanceof Uint8Array ? new Uint8Array(this.height * this.width) : new Int32Array(this.height * this.width);
    this.data.set(band, rowOffset * this.width);
  }
}

const nullable = (x: number): number | null => (Number.isFinite(x) ? x : null);

function confusionRows(matrix: ConfusionMatrix | undefined): number[][] {
  if (!matrix) return [];
  const n = matrix.numClasses;
  return Array.from({ length: n }, (_, i) => matrix.counts.slice(i * n, (i + 1) * n).map(Number));
}

/** Predict events with the image bands put back together. */
export async function* assemblePredictions(events: AsyncIterable<EventOf<{ event: { $case: string; value: unknown } | undefined }>>, rpc = "Predict"): AsyncGenerator<PredictStreamEvent> {
  let open: { band: ImagePrediction; labels: LabelRows; probabilities: Planes } | undefined;
  for await (const event of events) {
    if (event.$case !== "image") {
      yield event as PredictStreamEvent;
      continue;
    }
    const band = event.value as ImagePrediction;
    if (!open || open.band.index !== band.index) {
      open = { band, labels: new LabelRows(band.height, band.width), probabilities: new Planes(band.height, band.width) };
    }
    const labels = labelsOf(band.labels, rpc);
    const rows = labels.length / band.width;
    open.labels.put(labels, band.rowOffset);
    if (band.probabilities) open.probabilities.put(floatsOf(band.probabilities, rpc), band.rowOffset, rows);
    if (band.last) {
      yield {
        $case: "image",
        value: {
          index: band.index,
          name: band.name,
          height: band.height,
          width: band.width,
          labels: open.labels.data as LabelMap,
          probabilities: open.probabilities.data,
          classPixelCounts: band.classPixelCounts.map(Number),
        },
      };
      open = undefined;
    }
  }
}

/** Probe events with the image bands put back together. */
export async function* assembleProbes(events: AsyncIterable<EventOf<{ event: { $case: string; value: unknown } | undefined }>>, rpc = "Probe"): AsyncGenerator<ProbeStreamEvent> {
  let open: { index: number; clean: LabelRows; attacked: LabelRows; image: Planes } | undefined;
  for await (const event of events) {
    if (event.$case !== "image") {
      yield event as ProbeStreamEvent;
      continue;
    }
    const band = event.value as ImageProbe;
    if (!open || open.index !== band.index) {
      open = { index: band.index, clean: new LabelRows(band.height, band.width), attacked: new LabelRows(band.height, band.width), image: new Planes(band.height, band.width) };
    }
    const clean = labelsOf(band.cleanLabels, rpc);
    open.clean.put(clean, band.rowOffset);
    open.attacked.put(labelsOf(band.adversarialLabels, rpc), band.rowOffset);
    if (band.adversarialImage) open.image.put(floatsOf(band.adversarialImage, rpc), band.rowOffset, clean.length / band.width);
    if (band.last) {
      yield {
        $case: "image",
        value: {
          index: band.index,
          name: band.name,
          height: band.height,
          width: band.width,
          cleanLabels: open.clean.data as LabelMap,
          adversarialLabels: open.attacked.data as LabelMap,
          adversarialImage: open.image.data,
          figures: {
            agreement: confusionRows(band.agreement),
            foregroundPixels: Number(band.foregroundPixels),
            foregroundToBackground: nullable(band.foregroundToBackground),
            meanIoU: nullable(band.meanIou),
            foregroundIoU: nullable(band.foregroundIou),
            pixelAgreement: band.pixelAgreement,
            linf: band.linf,
          },
        },
      };
      open = undefined;
    }
  }
}

export { requestsOf };
