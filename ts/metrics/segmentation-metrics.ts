// Segmentation metrics from a confusion matrix accumulated over a whole dataset (docs/ARCHITECTURE.md section 11):
// never per-image means.
//
// Undefined values are null (JSON-safe), never NaN:
// - a class absent from both truth and prediction (TP + FP + FN = 0) has IoU and Dice null and is
//   left out of mIoU and mean Dice;
// - a class absent from truth but predicted somewhere has IoU 0 and Dice 0 (and counts in mIoU);
// - pixel accuracy is null for an empty matrix; foreground accuracy is null when the truth holds
//   no foreground pixel; mIoU is null when no class is defined.
// mIoU averages over all defined classes, background included (the usual definition).
import { type ConfusionMatrix, cell, checkConfusion, predictedCounts, totalPixels, truthCounts } from "./confusion-matrix.js";

export interface ClassMetrics {
  index: number;
  name: string;
  /** TP / (TP + FP + FN); null when the class is absent from truth and prediction. */
  iou: number | null;
  /** 2·TP / (2·TP + FP + FN); null when the class is absent from truth and prediction. */
  dice: number | null;
  /** Pixels of this class in the truth (row sum). */
  truthPixels: number;
  /** Pixels predicted as this class (column sum). */
  predictedPixels: number;
  truePositives: number;
}

export interface SegmentationMetrics {
  numPixels: number;
  /** Share of all pixels predicted as their true class (the paper's "accuracy"). */
  pixelAccuracy: number | null;
  /** Share of non-background pixels (truth ≠ background) predicted as their true class. */
  foregroundAccuracy: number | null;
  /** Mean IoU over the classes whose IoU is defined. */
  meanIoU: number | null;
  /** Mean Dice over the classes whose Dice is defined. */
  meanDice: number | null;
  /** Mean pixel-wise cross-entropy, passed through from the worker (null when there is none). */
  meanLoss: number | null;
  /** Classes that count in meanIoU / meanDice. */
  definedClasses: number;
  perClass: ClassMetrics[];
}

export interface MetricsOptions {
  classNames?: readonly string[] | undefined;
  meanLoss?: number | null | undefined;
  /** Class index of background (default 0). */
  backgroundClass?: number | undefined;
}

export function segmentationMetrics(matrix: ConfusionMatrix, options: MetricsOptions = {}): SegmentationMetrics {
  checkConfusion(matrix);
  const c = matrix.numClasses;
  const background = options.backgroundClass ?? 0;
  if (!Number.isInteger(background) || background < 0 || background >= c) {
    throw new RangeError(`background class ${background} outside 0..${c - 1}`);
  }
  const truth = truthCounts(matrix);
  const predicted = predictedCounts(matrix);
  const numPixels = totalPixels(matrix);

  const perClass: ClassMetrics[] = [];
  let correct = 0;
  for (let k = 0; k < c; k++) {
    const tp = cell(matrix, k, k);
    const truthPixels = truth[k] ?? 0;
    const predictedPixels = predicted[k] ?? 0;
    const fn = truthPixels - tp;
    const fp = predictedPixels - tp;
    const union = tp + fp + fn;
    correct += tp;
    perClass.push({
      index: k,
      name: options.classNames?.[k] ?? `class ${k}`,
      iou: union === 0 ? null : tp / union,
      dice: union === 0 ? null : (2 * tp) / (2 * tp + fp + fn),
      truthPixels,
      predictedPixels,
      truePositives: tp,
    });
  }

  const foreground = perClass.filter((m) => m.index !== background);
  const foregroundPixels = foreground.reduce((a, m) => a + m.truthPixels, 0);
  const foregroundCorrect = foreground.reduce((a, m) => a + m.truePositives, 0);
  const ious = perClass.map((m) => m.iou).filter((v): v is number => v !== null);
  const dices = perClass.map((m) => m.dice).filter((v): v is number => v !== null);

  return {
    numPixels,
    pixelAccuracy: numPixels === 0 ? null : correct / numPixels,
    foregroundAccuracy: foregroundPixels === 0 ? null : foregroundCorrect / foregroundPixels,
    meanIoU: mean(ious),
    meanDice: mean(dices),
    meanLoss: options.meanLoss ?? null,
    definedClasses: ious.length,
    perClass,
  };
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Share of foreground pixels predicted as background (background = class 0), from confusion rows
 * (truth) of columns (prediction): the success of a background-targeted attack. null without
 * foreground pixels.
 */
export function foregroundToBackground(confusion: readonly (readonly number[])[]): number | null {
  let fg = 0;
  let toBg = 0;
  confusion.forEach((row, truth) => {
    if (truth === 0) return;
    fg += row.reduce((a, b) => a + b, 0);
    toBg += row[0] ?? 0;
  });
  return fg === 0 ? null : toBg / fg;
}
