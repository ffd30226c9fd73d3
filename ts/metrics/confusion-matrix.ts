// A C×C confusion matrix of pixel counts: row = true class, column = predicted class (the
// contract's ConfusionMatrix, checked and made plain).
import type { ConfusionMatrix as ConfusionMatrixMessage } from "../generated/robustseg/v1/common.js";

export interface ConfusionMatrix {
  numClasses: number;
  /** numClasses × numClasses counts, row-major: counts[truth * numClasses + predicted]. */
  counts: number[];
}

export class ConfusionMatrixError extends Error {
  override readonly name = "ConfusionMatrixError";
}

/** Checks shape and values (non-negative integers). `what` names the matrix in errors. */
export function checkConfusion(matrix: ConfusionMatrix, what = "confusion matrix"): ConfusionMatrix {
  const { numClasses, counts } = matrix;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ConfusionMatrixError(`${what}: num_classes must be >= 1, got ${numClasses}`);
  }
  if (counts.length !== numClasses * numClasses) {
    throw new ConfusionMatrixError(`${what}: expected ${numClasses}×${numClasses} = ${numClasses * numClasses} counts, got ${counts.length}`);
  }
  counts.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ConfusionMatrixError(`${what}: count [${Math.floor(i / numClasses)}][${i % numClasses}] must be a non-negative integer, got ${n}`);
    }
  });
  return matrix;
}

/** From the wire message (int64 counts arrive as numbers), checked. */
export function confusionFromMessage(message: ConfusionMatrixMessage | undefined, what = "confusion matrix"): ConfusionMatrix {
  if (message === undefined) throw new ConfusionMatrixError(`${what}: missing`);
  return checkConfusion({ numClasses: message.numClasses, counts: [...message.counts] }, what);
}

/** From rows (truth) of columns (prediction). */
export function confusionFromRows(rows: readonly (readonly number[])[]): ConfusionMatrix {
  const numClasses = rows.length;
  rows.forEach((row, i) => {
    if (row.length !== numClasses) throw new ConfusionMatrixError(`confusion matrix: row ${i} has ${row.length} columns, expected ${numClasses}`);
  });
  return checkConfusion({ numClasses, counts: rows.flat() });
}

export function toRows(matrix: ConfusionMatrix): number[][] {
  const { numClasses: c, counts } = matrix;
  return Array.from({ length: c }, (_, i) => counts.slice(i * c, (i + 1) * c));
}

export function cell(matrix: ConfusionMatrix, truth: number, predicted: number): number {
  return matrix.counts[truth * matrix.numClasses + predicted] ?? 0;
}

/** Pixels whose true class is c, per class (row sums). */
export function truthCounts(matrix: ConfusionMatrix): number[] {
  return toRows(matrix).map((row) => row.reduce((a, b) => a + b, 0));
}

/** Pixels predicted as c, per class (column sums). */
export function predictedCounts(matrix: ConfusionMatrix): number[] {
  const out = new Array<number>(matrix.numClasses).fill(0);
  matrix.counts.forEach((n, i) => {
    out[i % matrix.numClasses] = (out[i % matrix.numClasses] ?? 0) + n;
  });
  return out;
}

export function totalPixels(matrix: ConfusionMatrix): number {
  return matrix.counts.reduce((a, b) => a + b, 0);
}

/** Element-wise sum (e.g. accumulating batches or datasets). */
export function addConfusion(a: ConfusionMatrix, b: ConfusionMatrix): ConfusionMatrix {
  if (a.numClasses !== b.numClasses) throw new ConfusionMatrixError(`cannot add ${a.numClasses}- and ${b.numClasses}-class confusion matrices`);
  return { numClasses: a.numClasses, counts: a.counts.map((n, i) => n + (b.counts[i] ?? 0)) };
}
