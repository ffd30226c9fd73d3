// The run's figure panels (paper Figures 1-3 and 5-8), rendered by the worker from the real tensors
// over RenderPanels and saved in the run folder: figures/*.png plus figures.json, the index the
// report is built from. Cached by a key of their inputs: a rerun with the same artifacts reuses
// the files without asking the worker.
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { WorkerClient } from "../client/worker-client.js";
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import { type AttackParams, attackSpec, type GradientAttackParams, resolveClass } from "../ops/attacks.js";
import { writeJsonAtomic } from "../ops/enhance-dataset.js";

export const FIGURES_DIR = "figures";
export const FIGURES_FILE = "figures.json";
export const FIGURES_SCHEMA = "robustseg.figures/v1";
/** RenderPanels answers at most this many images per call. */
export const MAX_IMAGES_PER_CALL = 16;

export const PANEL_LABELS: Record<string, string> = {
  image: "clean image",
  truth: "ground truth",
  clean_prediction: "prediction (clean)",
  perturbation: "perturbation (magnified)",
  perturbed: "perturbed image",
  prediction: "prediction (perturbed)",
  target: "attack target",
};

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

export interface FigureEntry {
  id: string;
  /** The paper's figure number(s) this one corresponds to. */
  paperFigure: string;
  title: string;
  caption: string;
  model: string;
  modelId: string;
  dataset: string;
  datasetId: string;
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

/** One figure to render: a model, a dataset and where the perturbed images come from. */
export interface FigureRequest {
  id: string;
  paperFigure: string;
  title: string;
  caption: string;
  model: string;
  modelId: string;
  dataset: string;
  datasetId: string;
  imageIndices: number[];
  perturbedDataset?: { role: string; id: string } | undefined;
  attack?: AttackParams | undefined;
  attackModel?: { name: string; id: string } | undefined;
  /** For a perturbed dataset made by a full-area targeted attack: its target, for the caption. */
  targetClass?: string | undefined;
}

export function figuresKey(requests: readonly FigureRequest[], classNames: readonly string[]): string {
  const inputs = requests.map((r) => ({ ...r, attack: r.attack ? attackSpec(r.attack, classNames) : null }));
  return createHash("sha256").update(JSON.stringify({ schema: FIGURES_SCHEMA, inputs })).digest("hex").slice(0, 24);
}

export async function readFiguresIndex(runDir: string): Promise<FiguresIndex | undefined> {
  try {
    const index = JSON.parse(await readFile(join(runDir, FIGURES_FILE), "utf8")) as FiguresIndex;
    return index.schema === FIGURES_SCHEMA ? index : undefined;
  } catch {
    return undefined;
  }
}

function targetOf(attack: AttackParams | undefined, classNames: readonly string[]): string | null {
  if (!attack || attack.method === "layered-pgd" || attack.target === "untargeted") return null;
  const k = resolveClass(attack.target.class, classNames, "target");
  return classNames[k] ?? String(k);
}

/**
 * Renders the figures (or reuses them when figures.json has the same key and every PNG is there).
 * Returns the index and whether it was reused.
 */
export async function renderFigures(
  client: WorkerClient,
  runDir: string,
  requests: readonly FigureRequest[],
  classNames: readonly string[],
  options: { signal?: AbortSignal | undefined; onFigure?: (done: number, total: number) => void } = {},
): Promise<{ index: FiguresIndex; reused: boolean }> {
  const key = figuresKey(requests, classNames);
  const existing = await readFiguresIndex(runDir);
  if (existing?.key === key && existing.figures.every((f) => f.images.every((i) => i.panels.every((p) => existsSync(join(runDir, p.file)))))) {
    return { index: existing, reused: true };
  }
  await mkdir(join(runDir, FIGURES_DIR), { recursive: true });
  let classColors: string[] = [];
  let names = [...classNames];
  const figures: FigureEntry[] = [];
  for (const [n, r] of requests.entries()) {
    options.signal?.throwIfAborted();
    const images: FigureImage[] = [];
    for (let start = 0; start < r.imageIndices.length; start += MAX_IMAGES_PER_CALL) {
      const indices = r.imageIndices.slice(start, start + MAX_IMAGES_PER_CALL);
      const attack: AttackSpec | undefined = r.attack ? attackSpec(r.attack, classNames) : undefined;
      const response = await client.renderPanels(
        {
          modelId: r.modelId,
          datasetId: r.datasetId,
          imageIndices: indices,
          attack,
          attackModelId: r.attackModel?.id ?? "",
          perturbedDatasetId: r.perturbedDataset?.id ?? "",
          perturbationGain: 0,
          scale: 0,
        },
        { signal: options.signal },
      );
      if (response.classColors.length > 0) classColors = response.classColors;
      if (response.classNames.length > 0) names = response.classNames;
      for (const set of response.panelSets) {
        const panels: FigurePanel[] = [];
        for (const p of set.panels) {
          const file = `${FIGURES_DIR}/${r.id}-${set.imageIndex}-${p.kind.replaceAll("_", "-")}.png`;
          await writeFile(join(runDir, file), p.png);
          panels.push({ kind: p.kind, file, width: p.width, height: p.height, caption: PANEL_LABELS[p.kind] ?? p.kind });
        }
        images.push({ imageIndex: set.imageIndex, linf: set.linf, panels });
      }
    }
    const targetClass = r.targetClass ?? targetOf(r.attack, classNames);
    for (const image of images) {
      for (const p of image.panels) if (p.kind === "target" && targetClass) p.caption = `target: ${targetClass}`;
    }
    figures.push({
      id: r.id,
      paperFigure: r.paperFigure,
      title: r.title,
      caption: r.caption,
      model: r.model,
      modelId: r.modelId,
      dataset: r.dataset,
      datasetId: r.datasetId,
      perturbedDataset: r.perturbedDataset?.role ?? null,
      attack: r.attack ?? null,
      attackModel: r.attack ? (r.attackModel?.name ?? r.model) : null,
      targetClass,
      images,
    });
    options.onFigure?.(n + 1, requests.length);
  }
  const index: FiguresIndex = { schema: FIGURES_SCHEMA, key, classNames: names, classColors, figures };
  await writeJsonAtomic(join(runDir, FIGURES_FILE), index);
  return { index, reused: false };
}

/** The experiment's figures: Figures 1-3 on training images against M1, Figures 5-8 on test images. */
export function experimentFigureRequests(args: {
  classNames: readonly string[];
  models: { name: string; id: string }[];
  datasets: { role: string; id: string; numImages: number }[];
  methodOneEpsilon: number;
  methodOneSteps: number;
  evaluationAttack: GradientAttackParams;
  images?: number | undefined;
}): FigureRequest[] {
  const n = args.images ?? 2;
  const ds = (role: string) => args.datasets.find((d) => d.role === role);
  const m = (name: string) => args.models.find((x) => x.name === name);
  const train = ds("train");
  const test = ds("test");
  const m1 = m("M1");
  const out: FigureRequest[] = [];
  if (!train || !test || !m1) return out;
  const trainIdx = Array.from({ length: Math.min(n, train.numImages) }, (_, i) => i);
  const testIdx = Array.from({ length: Math.min(n, test.numImages) }, (_, i) => i);
  const d1 = ds("D1");
  if (d1) {
    out.push({
      id: "fig1-method-one",
      paperFigure: "1",
      title: "Method one (layered PGD): transformation and effect",
      caption: "A training image, D1's version of it (method one against M1), the perturbation magnified to be visible, and M1's prediction on both.",
      model: "M1",
      modelId: m1.id,
      dataset: "train",
      datasetId: train.id,
      imageIndices: trainIdx,
      perturbedDataset: { role: "D1", id: d1.id },
    });
  }
  const lastClass = args.classNames.length - 1;
  const plainPgd: GradientAttackParams = {
    method: "pgd",
    epsilon: args.methodOneEpsilon,
    steps: Math.max(args.methodOneSteps, args.evaluationAttack.steps),
    randomStart: false,
    seed: 0,
    target: { class: lastClass },
  };
  out.push({
    id: "fig2-plain-pgd",
    paperFigure: "2",
    title: `Plain full-area PGD towards "${args.classNames[lastClass] ?? lastClass}": transformation and effect`,
    caption: `A training image attacked by one targeted PGD (ε = ${plainPgd.epsilon}, ${plainPgd.steps} steps) towards the single full-area class "${args.classNames[lastClass] ?? lastClass}" against M1, computed on the fly: where method one stacks one such attack per class, this is a single one aimed at a single full-area target (shown last); the prediction (perturbed) shows how far it got.`,
    model: "M1",
    modelId: m1.id,
    dataset: "train",
    datasetId: train.id,
    imageIndices: trainIdx,
    attack: plainPgd,
  });
  const d2 = ds("D2");
  if (d2) {
    out.push({
      id: "fig3-method-two",
      paperFigure: "3",
      title: "Method two (chosen FGSM directions): transformation and effect",
      caption: "A training image, D2's version of it (method two against M1: per-class FGSM directions chosen to lower the loss), the perturbation magnified, and M1's prediction on both.",
      model: "M1",
      modelId: m1.id,
      dataset: "train",
      datasetId: train.id,
      imageIndices: trainIdx,
      perturbedDataset: { role: "D2", id: d2.id },
    });
  }
  const a = args.evaluationAttack;
  const attackWords = `${a.method.toUpperCase()} (ε = ${a.epsilon}, ${a.steps} steps${a.target === "untargeted" ? ", untargeted" : ""})`;
  for (const [i, name] of ["M1", "M2", "M3", "M4"].entries()) {
    const model = m(name);
    if (!model) continue;
    out.push({
      id: `fig${5 + i}-${name.toLowerCase()}-white-box`,
      paperFigure: String(5 + i),
      title: `${name} under the evaluation attack (white-box)`,
      caption: `Test images attacked by the evaluation attack, ${attackWords}, computed against ${name} itself, and ${name}'s prediction before and after.`,
      model: name,
      modelId: model.id,
      dataset: "test",
      datasetId: test.id,
      imageIndices: testIdx,
      attack: a,
    });
  }
  return out;
}
