// The benchmark's sizes. `small` (the default) runs in minutes on two CPU cores; `paper` is the
// paper's scale (U-Net width 32, 256×256 tiles, 100-step PGD, batch 16); `smoke` is the smallest
// run that still exercises every measurement (the test in `npm test` uses it).

export const SIZE_NAMES = ["smoke", "small", "paper"] as const;
export type SizeName = (typeof SIZE_NAMES)[number];

export interface BenchSize {
  readonly name: SizeName;
  /** Every figure is the median of this many interleaved repeats. */
  readonly repeats: number;
  /** The model every measurement but the class-count curve uses (trained briefly through the worker). */
  readonly model: { readonly depth: number; readonly baseWidth: number };
  readonly data: { readonly tile: number; readonly train: number; readonly validation: number; readonly epochs: number };
  /** PGD: one batch of `images` tiles, targeted towards background, no random start, α = 2.5·ε/K. */
  readonly pgd: { readonly images: number; readonly steps: number; readonly epsilon: number };
  readonly methodOne: { readonly images: number; readonly steps: number; readonly epsilon: number };
  /** Method two on the first `images` training tiles (6 classes), every strategy. */
  readonly methodTwo: { readonly images: number; readonly epsilon: number };
  /** Control-plane overhead: an evaluation under PGD of `images` tiles, from the CLI and in-process. */
  readonly controlPlane: { readonly images: number; readonly steps: number };
  readonly curves: {
    /** PGD steps per second by tile size (same model, `pgd.images` tiles, `curveSteps` steps). */
    readonly tiles: readonly number[];
    readonly curveSteps: number;
    /** Method two by class count: untrained U-Nets (depth 2, width 8) on `classImages` noise tiles of `classTile`. */
    readonly classes: readonly number[];
    readonly classTile: number;
    readonly classImages: number;
    /** Exhaustive only while 3^C is at most this (beyond it is reported as not run). */
    readonly exhaustiveUpTo: number;
  };
}

export const SIZES: Readonly<Record<SizeName, BenchSize>> = {
  smoke: {
    name: "smoke",
    repeats: 1,
    model: { depth: 2, baseWidth: 8 },
    data: { tile: 32, train: 4, validation: 2, epochs: 1 },
    pgd: { images: 2, steps: 2, epsilon: 0.01 },
    methodOne: { images: 1, steps: 1, epsilon: 0.01 },
    methodTwo: { images: 2, epsilon: 0.01 },
    controlPlane: { images: 2, steps: 2 },
    curves: { tiles: [16, 32], curveSteps: 2, classes: [3, 4], classTile: 16, classImages: 1, exhaustiveUpTo: 81 },
  },
  small: {
    name: "small",
    repeats: 5,
    model: { depth: 3, baseWidth: 16 },
    data: { tile: 64, train: 32, validation: 8, epochs: 3 },
    pgd: { images: 4, steps: 10, epsilon: 0.01 },
    methodOne: { images: 4, steps: 3, epsilon: 0.01 },
    methodTwo: { images: 8, epsilon: 0.01 },
    controlPlane: { images: 16, steps: 10 },
    curves: { tiles: [32, 64, 128], curveSteps: 5, classes: [3, 4, 5, 6, 7, 8, 9, 10], classTile: 32, classImages: 2, exhaustiveUpTo: 3 ** 8 },
  },
  paper: {
    name: "paper",
    repeats: 3,
    model: { depth: 4, baseWidth: 32 },
    data: { tile: 256, train: 16, validation: 4, epochs: 1 },
    pgd: { images: 16, steps: 100, epsilon: 0.01 },
    methodOne: { images: 2, steps: 100, epsilon: 0.01 },
    methodTwo: { images: 4, epsilon: 0.01 },
    controlPlane: { images: 16, steps: 100 },
    curves: { tiles: [64, 128, 256], curveSteps: 10, classes: [3, 4, 5, 6, 7, 8, 9, 10], classTile: 64, classImages: 2, exhaustiveUpTo: 3 ** 8 },
  },
};
