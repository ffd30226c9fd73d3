// Text renderings of metrics shared by several commands (evaluate, demo, train).
import type { SegmentationMetrics } from "../metrics/segmentation-metrics.js";
import type { EpochRow } from "../ops/train-model.js";
import { fixed, fraction } from "./format.js";
import { renderTable } from "./table.js";

/** Per-class IoU (and Dice, for a single predictor), one column per predictor. */
export function renderPerClass(rows: { predictor: string; metrics: SegmentationMetrics }[]): string {
  const first = rows[0]?.metrics;
  if (!first) return "";
  const single = rows.length === 1;
  const head = ["class", "truth share", ...(single ? ["IoU", "Dice"] : rows.map((r) => `IoU: ${r.predictor}`))];
  return renderTable({
    head,
    rows: first.perClass.map((c, i) => [
      c.name,
      fraction(first.numPixels === 0 ? null : c.truthPixels / first.numPixels),
      ...(single ? [fraction(c.iou), fraction(c.dice)] : rows.map((r) => fraction(r.metrics.perClass[i]?.iou))),
    ]),
  });
}

export function renderEpochs(epochs: EpochRow[]): string {
  return renderTable({
    head: ["epoch", "train loss", "val loss", "val pixel acc", "val fg acc", "val mIoU", "best"],
    rows: epochs.map((e) => [
      String(e.epoch),
      fixed(e.trainLoss, 4),
      fixed(e.validationLoss, 4),
      fraction(e.validationPixelAccuracy),
      fraction(e.validationForegroundAccuracy),
      fraction(e.validationMeanIoU),
      e.best ? "*" : "",
    ]),
  });
}
