// The index of a run's figure panels (figures.json) and where the panels live (figures/*.png):
// the schema the report is built from. Written by the figures stage (ts/ops/render-figures.ts);
// read here without a worker.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AttackParams } from "../attacks/registry.js";

export const FIGURES_DIR = "figures";
export const FIGURES_FILE = "figures.json";
export const FIGURES_SCHEMA = "robustseg.figures/v1";

export interface FigurePanel {
  kind: string;
  /** Relative to the run folder, e.g. figures/fig1-method-one-0-image.png. */
  file: string;
  width: number;
  height: number;
  caption: string;
}

export interface FigureImage {
  imageIndex: number;
  /** L∞ size of the perturbation shown (0 without one). */
  linf: number;
  panels: FigurePanel[];
}

/** What a figure shows: its name, captions, the model and the dataset it was made from. */
export interface FigureIdentity {
  id: string;
  /** The paper's figure number(s) this one corresponds to. */
  paperFigure: string;
  title: string;
  caption: string;
  model: string;
  modelId: string;
  dataset: string;
  datasetId: string;
}

export interface FigureEntry extends FigureIdentity {
  perturbedDataset: string | null;
  attack: AttackParams | null;
  attackModel: string | null;
  /** The attack's full-area target class, when it has one. */
  targetClass: string | null;
  images: FigureImage[];
}

export interface FiguresIndex {
  schema: typeof FIGURES_SCHEMA;
  key: string;
  classNames: string[];
  classColors: string[];
  figures: FigureEntry[];
}

export async function readFiguresIndex(runDir: string): Promise<FiguresIndex | undefined> {
  try {
    const index = JSON.parse(await readFile(join(runDir, FIGURES_FILE), "utf8")) as FiguresIndex;
    return index.schema === FIGURES_SCHEMA ? index : undefined;
  } catch {
    return undefined;
  }
}
