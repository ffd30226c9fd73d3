// Reference predictors that need no model, computed from the truth's class pixel counts.
import { checkConfusion, type ConfusionMatrix } from "./confusion-matrix.js";

/**
 * The confusion matrix of a predictor that says "background" for every pixel: each true class's
 * pixels all land in the background column. Its pixel accuracy is the background share, its
 * foreground accuracy 0: the floor a trained model has to clear.
 */
export function allBackgroundConfusion(truthClassCounts: readonly number[], backgroundClass = 0): ConfusionMatrix {
  const c = truthClassCounts.length;
  if (backgroundClass < 0 || backgroundClass >= c) throw new RangeError(`background class ${backgroundClass} outside 0..${c - 1}`);
  const counts = new Array<number>(c * c).fill(0);
  truthClassCounts.forEach((n, truth) => {
    counts[truth * c + backgroundClass] = n;
  });
  return checkConfusion({ numClasses: c, counts }, "all-background confusion matrix");
}
