import { describe, expect, it } from "vitest";
import {
  addConfusion,
  confusionFromMessage,
  confusionFromRows,
  ConfusionMatrixError,
  predictedCounts,
  totalPixels,
  truthCounts,
} from "./confusion-matrix.js";
import { foregroundToBackground, segmentationMetrics } from "./segmentation-metrics.js";

// Rows = truth, columns = prediction. Worked by hand:
//   class 0: TP 50, FN 5, FP 5 -> IoU 50/60, Dice 100/110
//   class 1: TP 20, FN 5, FP 3 -> IoU 20/28, Dice 40/48
//   class 2: TP  9, FN 1, FP 3 -> IoU  9/13, Dice 18/22
const threeClasses = confusionFromRows([
  [50, 3, 2],
  [4, 20, 1],
  [1, 0, 9],
]);

describe("segmentationMetrics on a hand-computed 3-class matrix", () => {
  const m = segmentationMetrics(threeClasses, { classNames: ["background", "a", "b"], meanLoss: 0.42 });

  it("gives pixel accuracy as the trace over the total", () => {
    expect(m.numPixels).toBe(90);
    expect(m.pixelAccuracy).toBeCloseTo(79 / 90, 12);
  });

  it("gives per-class IoU and Dice", () => {
    expect(m.perClass.map((c) => c.iou)).toEqual([50 / 60, 20 / 28, 9 / 13].map((v) => expect.closeTo(v, 12)));
    expect(m.perClass.map((c) => c.dice)).toEqual([100 / 110, 40 / 48, 18 / 22].map((v) => expect.closeTo(v, 12)));
    expect(m.perClass.map((c) => c.name)).toEqual(["background", "a", "b"]);
    expect(m.perClass.map((c) => c.truthPixels)).toEqual([55, 25, 10]);
    expect(m.perClass.map((c) => c.predictedPixels)).toEqual([55, 23, 12]);
  });

  it("averages IoU over all classes, background included", () => {
    expect(m.meanIoU).toBeCloseTo((50 / 60 + 20 / 28 + 9 / 13) / 3, 12);
    expect(m.meanDice).toBeCloseTo((100 / 110 + 40 / 48 + 18 / 22) / 3, 12);
    expect(m.definedClasses).toBe(3);
  });

  it("gives foreground accuracy over pixels whose true class is not background", () => {
    expect(m.foregroundAccuracy).toBeCloseTo((20 + 9) / (25 + 10), 12);
  });

  it("passes the mean loss through", () => {
    expect(m.meanLoss).toBe(0.42);
    expect(segmentationMetrics(threeClasses).meanLoss).toBeNull();
  });

  it("honours another background class", () => {
    const other = segmentationMetrics(threeClasses, { backgroundClass: 2 });
    expect(other.foregroundAccuracy).toBeCloseTo((50 + 20) / (55 + 25), 12);
  });
});

describe("classes absent from truth and/or prediction", () => {
  // class 2: absent from truth and prediction -> IoU/Dice null, not in the means
  // class 3: absent from truth but predicted once -> IoU 0, Dice 0, in the means
  const m = segmentationMetrics(
    confusionFromRows([
      [10, 0, 0, 0],
      [0, 5, 0, 1],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]),
  );

  it("leaves a class absent from both undefined (null) and out of mIoU", () => {
    expect(m.perClass[2]?.iou).toBeNull();
    expect(m.perClass[2]?.dice).toBeNull();
    expect(m.definedClasses).toBe(3);
  });

  it("gives IoU 0 to a class predicted but absent from the truth", () => {
    expect(m.perClass[3]?.iou).toBe(0);
    expect(m.perClass[3]?.dice).toBe(0);
  });

  it("averages over the defined classes only", () => {
    expect(m.perClass[0]?.iou).toBe(1);
    expect(m.perClass[1]?.iou).toBeCloseTo(5 / 6, 12);
    expect(m.meanIoU).toBeCloseTo((1 + 5 / 6 + 0) / 3, 12);
    expect(m.meanDice).toBeCloseTo((1 + 10 / 11 + 0) / 3, 12);
    expect(m.foregroundAccuracy).toBeCloseTo(5 / 6, 12);
    expect(m.pixelAccuracy).toBeCloseTo(15 / 16, 12);
  });

  it("serialises undefined values as null, never NaN", () => {
    const json = JSON.parse(JSON.stringify(m));
    expect(json.perClass[2].iou).toBeNull();
    expect(JSON.stringify(m)).not.toMatch(/NaN/);
  });

  it("gives null accuracies and means for an empty matrix", () => {
    const empty = segmentationMetrics(confusionFromRows([[0, 0], [0, 0]]));
    expect(empty).toMatchObject({ numPixels: 0, pixelAccuracy: null, foregroundAccuracy: null, meanIoU: null, meanDice: null, definedClasses: 0 });
  });

  it("gives null foreground accuracy when the truth holds only background", () => {
    const onlyBackground = segmentationMetrics(confusionFromRows([[7, 3], [0, 0]]));
    expect(onlyBackground.foregroundAccuracy).toBeNull();
    expect(onlyBackground.pixelAccuracy).toBeCloseTo(0.7, 12);
    expect(onlyBackground.perClass[1]?.iou).toBe(0); // predicted 3 times, never true
  });
});

// A predictor that says "background" everywhere: every true class's pixels in the background column.
const allBackground = (truth: number[]) => confusionFromRows(truth.map((n) => truth.map((_, k) => (k === 0 ? n : 0))));

describe("the all-background predictor", () => {
  const baseline = allBackground([55, 25, 10]);

  it("puts every true class's pixels in the background column", () => {
    expect(baseline.counts).toEqual([55, 0, 0, 25, 0, 0, 10, 0, 0]);
  });

  it("turns every foreground pixel to background", () => {
    expect(foregroundToBackground([[55, 0, 0], [25, 0, 0], [10, 0, 0]])).toBe(1);
    expect(foregroundToBackground([[5, 1], [2, 6]])).toBeCloseTo(0.25, 12);
    expect(foregroundToBackground([[5, 1], [0, 0]])).toBeNull();
  });

  it("has pixel accuracy = background share, foreground accuracy 0", () => {
    const m = segmentationMetrics(baseline);
    expect(m.pixelAccuracy).toBeCloseTo(55 / 90, 12);
    expect(m.foregroundAccuracy).toBe(0);
    expect(m.perClass.map((c) => c.iou)).toEqual([55 / 90, 0, 0]);
    expect(m.meanIoU).toBeCloseTo(55 / 90 / 3, 12);
  });

  it("leaves classes absent from the truth undefined", () => {
    const m = segmentationMetrics(allBackground([10, 0, 5]));
    expect(m.perClass[1]?.iou).toBeNull();
    expect(m.meanIoU).toBeCloseTo((10 / 15 + 0) / 2, 12);
  });
});

describe("confusion matrix helpers", () => {
  it("sums rows, columns and totals", () => {
    expect(truthCounts(threeClasses)).toEqual([55, 25, 10]);
    expect(predictedCounts(threeClasses)).toEqual([55, 23, 12]);
    expect(totalPixels(threeClasses)).toBe(90);
    expect(addConfusion(threeClasses, threeClasses).counts[0]).toBe(100);
  });

  it("rejects malformed matrices with a message naming the problem", () => {
    expect(() => confusionFromMessage({ numClasses: 2, counts: [1, 2, 3] })).toThrow(/expected 2×2 = 4 counts, got 3/);
    expect(() => confusionFromMessage({ numClasses: 2, counts: [1, -2, 3, 4] })).toThrow(ConfusionMatrixError);
    expect(() => confusionFromMessage(undefined, "validation confusion")).toThrow(/validation confusion: missing/);
    expect(() => confusionFromRows([[1, 2], [3]])).toThrow(/row 1 has 1 columns/);
  });
});
