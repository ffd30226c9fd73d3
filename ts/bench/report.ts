// The benchmark's Markdown table (written beside the JSON and printed).
import type { BenchResults, Rate } from "./suite.js";

const num = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits));
const pct = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(digits)}%`);
const signedPct = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : `${v >= 0 ? "+" : ""}${v.toFixed(1)}%`);
const mib = (b: number | null | undefined): string => (b === null || b === undefined ? "—" : `${(b / 2 ** 20).toFixed(0)} MiB`);
const times = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : `${v.toFixed(2)}×`);

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function rateRow(name: string, r: Rate, unit: string, ratioText = ""): string[] {
  return [name, `${num(r.perSecond, 1)} ${unit}`, num(r.secondsPerImage, 3), mib(r.peakRssBytes), mib(r.cudaMaxAllocatedBytes), ratioText];
}

/** A group left out with --only. */
function notRun(title: string): string[] {
  return [`## ${title}`, "", "Not measured in this run (`--only`).", ""];
}

export function renderBenchMarkdown(r: BenchResults): string {
  const m = r.machine as Record<string, string | number | null>;
  const out: string[] = [];
  out.push(`# robustseg benchmark: size ${r.size}, ${String(m.device)} (${String(m.deviceType)})`);
  out.push("");
  out.push(
    `${r.startedAt.slice(0, 10)} · torch ${String(m.torch)} · ${String(m.threads)} threads · ${String(m.cpu)} (${r.load.cores} cores) · ` +
      `torchattacks ${String(m.torchattacks ?? "not installed")} · load average before ${r.load.before.join(" / ")}, after ${r.load.after.join(" / ")} ` +
      `(1/5/15 min) · every figure the median of ${r.params.repeats} interleaved repeats · ${num(r.totalSeconds, 0)} s in all`,
  );
  out.push("");
  out.push(`Worker start-up (spawn to SERVING), apart from every figure: ${num(r.workerStart.seconds, 2)} s. Training the suite's model through the worker: ${num(r.training.imagesPerSecond, 1)} images/s (${r.training.images} tiles × ${r.training.epochs} epochs).${r.groups.length < 5 ? ` Measured: ${r.groups.join(", ")}.` : ""}`);
  out.push("");
  out.push(...pgdSection(r, m), ...methodOneSection(r), ...methodTwoSection(r), ...controlPlaneSection(r), ...curvesSection(r));
  return out.join("\n");
}

function pgdSection(r: BenchResults, m: Record<string, string | number | null>): string[] {
  if (!r.pgd) return notRun("PGD");
  const p = r.pgd.setup;
  const out: string[] = [];
  out.push(`## PGD: U-Net depth ${p.depth} width ${p.baseWidth}, ${p.images} tiles of ${p.tile}×${p.tile}, ${p.steps} steps, ε = ${p.epsilon}, targeted to background`);
  out.push("");
  const ta = r.pgd.torchattacks;
  out.push(
    table(["implementation", "rate", "s/image", "peak RSS", "CUDA max allocated", "ratio to torchattacks"], [
      rateRow("robustseg (attack library)", r.pgd.robustseg, "steps/s", times(r.pgd.ratioToTorchattacks)),
      rateRow("robustseg (through the worker: AttackDataset)", r.pgd.worker, "steps/s", times(r.pgd.workerRatioToTorchattacks)),
      ...(ta ? [rateRow(`torchattacks ${String(m.torchattacks)} PGD`, ta, "steps/s", "1.00×")] : []),
    ]),
  );
  const a = r.pgd.agreement;
  if (a) {
    out.push("");
    out.push(
      `Same result: ${pct(a.equalShare, 2)} of pixel values equal (largest difference ${num(a.maxAbsDifference, 4)}); ` +
        `share of pixels predicted as background: clean ${pct(a.successClean)}, robustseg ${pct(a.successRobustseg)}, torchattacks ${pct(a.successTorchattacks)}.`,
    );
  }
  out.push("");
  return out;
}

function methodOneSection(r: BenchResults): string[] {
  if (!r.methodOne) return notRun("Method one");
  const out: string[] = [];
  out.push(`## Method one: ${r.methodOne.layers} layers of ${r.methodOne.stepsPerLayer} steps`);
  out.push("");
  out.push(
    table(["path", "rate", "s/image", "peak RSS", "CUDA max allocated", ""], [
      rateRow("in-process (attack library)", r.methodOne.inProcess, "gradient steps/s"),
      rateRow("through the worker (AttackDataset)", r.methodOne.worker, "gradient steps/s"),
    ]),
  );
  out.push("");
  return out;
}

function methodTwoSection(r: BenchResults): string[] {
  if (!r.methodTwo) return notRun("Method two");
  const out: string[] = [];
  out.push(`## Method two: ${r.methodTwo.images} tiles, ${r.methodTwo.classes} classes (exhaustive: ${r.methodTwo.exhaustiveCandidates} candidates per image)`);
  out.push("");
  out.push(
    table(
      ["strategy", "optimum found", "loss reduction", "candidates/image", "forward passes/image", "candidates/s", "s/image", "peak RSS", "CUDA max allocated"],
      r.methodTwo.strategies.map((s) => [
        s.strategy,
        pct(s.optimumShare),
        pct(s.reductionShare, 2),
        num(s.candidatesPerImage, 1),
        num(s.forwardPassesPerImage, 1),
        num(s.candidatesPerSecond, 1),
        num(s.secondsPerImage, 3),
        mib(s.peakRssBytes),
        mib(s.cudaMaxAllocatedBytes),
      ]),
    ),
  );
  out.push("");
  out.push("Scored through the driver's in-process engine (the worker's ScoreCandidates code without gRPC); each run computes its own directions.");
  out.push("");
  return out;
}

function controlPlaneSection(r: BenchResults): string[] {
  const c = r.controlPlane;
  if (!c) return notRun("Control-plane overhead");
  const out: string[] = [];
  out.push(`## Control-plane overhead: ${c.stage}`);
  out.push("");
  out.push(
    table(["path", "seconds", "overhead"], [
      ["in-process (Python engine)", num(c.inProcessSeconds, 3), "—"],
      ["TypeScript client → worker (gRPC, streamed progress)", num(c.clientSeconds, 3), signedPct(c.clientOverheadPercent)],
      ["CLI (`robustseg evaluate --worker`, a new process) → worker", num(c.cliSeconds, 3), signedPct(c.cliOverheadPercent)],
    ]),
  );
  out.push("");
  return out;
}

function curvesSection(r: BenchResults): string[] {
  const curves = r.curves;
  if (!curves) return notRun("Cost curves");
  const out: string[] = [];
  out.push("## Cost curves");
  out.push("");
  out.push(`PGD by tile size (${Math.min(r.params.pgd.images, r.params.data.train)} tiles, ${r.params.curves.curveSteps} steps):`);
  out.push("");
  out.push(
    table(["tile", "robustseg steps/s", "torchattacks steps/s", "ratio"], curves.pgdVsTile.map((t) => [
      `${t.tile}×${t.tile}`, num(t.robustsegStepsPerSecond, 1), num(t.torchattacksStepsPerSecond, 1), times(t.ratio),
    ])),
  );
  out.push("");
  const strategies = [...new Set(curves.methodTwoVsClasses.map((p2) => p2.strategy))];
  const classes = [...new Set(curves.methodTwoVsClasses.map((p2) => p2.classes))];
  out.push(`Method two by class count (${r.params.curves.classImages} noise tiles of ${r.params.curves.classTile}×${r.params.curves.classTile}, untrained U-Nets): candidates per image / seconds per image`);
  out.push("");
  out.push(
    table(["classes", ...strategies], classes.map((k) => [
      String(k),
      ...strategies.map((s) => {
        const pt = curves.methodTwoVsClasses.find((x) => x.classes === k && x.strategy === s);
        if (!pt) return "—";
        return pt.run ? `${num(pt.candidatesPerImage, 0)} / ${num(pt.secondsPerImage, 2)} s` : `${num(pt.candidatesPerImage, 0)} / not run`;
      }),
    ])),
  );
  out.push("");
  return out;
}
