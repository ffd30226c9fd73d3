// The experiment's figure plan: which panels the report shows (paper Figures 1-3 on training
// images against M1, Figures 5-8 on test images under the evaluation attack). Pure: the figures
// stage hands the requests to ts/ops/render-figures.ts.
import { describeAttack, type GradientAttackParams } from "../attacks/registry.js";
import type { FigureRequest } from "../ops/render-figures.js";

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
    steps: Math.max(args.methodOneSteps, args.evaluationAttack.steps ?? 1),
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
  const attackWords = describeAttack(a, args.classNames);
  // Figures 5-8 for M1-M4 (the paper's), then one per adversarial-training baseline.
  const paper = ["M1", "M2", "M3", "M4"];
  const names = [...paper, ...args.models.map((x) => x.name).filter((n) => !paper.includes(n))];
  for (const [i, name] of names.entries()) {
    const model = m(name);
    if (!model) continue;
    const inPaper = i < paper.length;
    out.push({
      id: inPaper ? `fig${5 + i}-${name.toLowerCase()}-white-box` : `fig-${name.toLowerCase()}-white-box`,
      paperFigure: inPaper ? String(5 + i) : "",
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
