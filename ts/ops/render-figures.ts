// Figure panels rendered by the worker from the real tensors over RenderPanels and saved in a run
// folder: figures/*.png plus figures.json (the index the report reads, ts/run-folder/figures-index.ts).
// Cached by a key of their inputs: a rerun with the same artifacts reuses the files without
// asking the worker.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { WorkerClient } from "../client/worker-client.js";
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import { type AttackParams, attackSpec, resolveClass } from "../attacks/registry.js";
import { writeFileAtomic, writeJsonAtomic } from "../files/atomic.js";
import {
  type FigureEntry,
  type FigureIdentity,
  type FigureImage,
  type FigurePanel,
  FIGURES_DIR,
  FIGURES_FILE,
  FIGURES_SCHEMA,
  type FiguresIndex,
  readFiguresIndex,
} from "../run-folder/figures-index.js";

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

/** One figure to render: a model, a dataset and where the perturbed images come from. */
export interface FigureRequest extends FigureIdentity {
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
          await writeFileAtomic(join(runDir, file), p.png, "figures.write");
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
