// The benchmark suite: every figure a rate or a ratio measured in this run, median of interleaved
// repeats, with the machine and its load recorded. It spawns a worker the way the CLI does, trains
// a small model through it, and starts the Python driver (in-process work on the same workspace).
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { attackSpec, type AttackParams } from "../attacks/registry.js";
import { attackDataset } from "../ops/attack-dataset.js";
import { createDataset, datasetOfSplit } from "../ops/create-dataset.js";
import { evaluateModel } from "../ops/evaluate-model.js";
import { trainModel } from "../ops/train-model.js";
import { compareSelections } from "../selection/compare.js";
import type { CandidateEstimator, CandidateScorer } from "../selection/scoring.js";
import { exhaustiveCandidateCount } from "../selection/signs.js";
import { selectSigns, type SelectionRun, type SelectionStrategy, strategyLabel } from "../selection/strategies.js";
import { spawnWorker, type SupervisedWorker, type WorkerDevice } from "../worker/index.js";
import { repoRoot } from "../worker/paths.js";
import { BenchDriver, type Timing } from "./driver.js";
import { interleave, maxOrNull, median, ratio, wallSeconds } from "./measure.js";
import type { BenchSize } from "./sizes.js";

export const BENCH_SCHEMA = "robustseg.bench/v1";

/** The suite's measurement groups; `npm run bench -- --only a,b` runs some (the others are null). */
export const BENCH_GROUPS = ["pgd", "method-one", "method-two", "control-plane", "curves"] as const;
export type BenchGroup = (typeof BENCH_GROUPS)[number];

/** A rate with the samples behind its median and the memory it peaked at. */
export interface Rate {
  /** Median over repeats (steps, candidates or images per second, as the field says). */
  perSecond: number | null;
  /** Median seconds per image. */
  secondsPerImage: number | null;
  /** Wall seconds of each repeat. */
  samples: number[];
  peakRssBytes: number | null;
  cudaMaxAllocatedBytes: number | null;
}

export interface StrategyRow {
  strategy: string;
  candidatesPerImage: number | null;
  candidatesPerSecond: number | null;
  secondsPerImage: number | null;
  /** Model evaluations the scorer ran per image (basis points and recomputed ones included). */
  forwardPassesPerImage: number | null;
  /** Against exhaustive on the same images, same repeat. */
  optimumShare: number | null;
  reductionShare: number | null;
  peakRssBytes: number | null;
  cudaMaxAllocatedBytes: number | null;
  samples: number[];
}

export interface ClassCurvePoint {
  classes: number;
  strategy: string;
  candidatesPerImage: number | null;
  secondsPerImage: number | null;
  /** Exhaustive beyond `exhaustiveUpTo` is not run (3^C candidates per image). */
  run: boolean;
}

export interface BenchResults {
  schema: typeof BENCH_SCHEMA;
  size: string;
  params: BenchSize;
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  machine: Record<string, unknown>;
  /** 1, 5 and 15-minute load averages before and after (the machine may be shared). */
  load: { before: number[]; after: number[]; cores: number };
  /** The groups this run measured; the others' sections are null. */
  groups: BenchGroup[];
  workerStart: { seconds: number | null; samples: number[] };
  training: { images: number; epochs: number; seconds: number; imagesPerSecond: number };
  pgd: {
    setup: { depth: number; baseWidth: number; tile: number; images: number; steps: number; epsilon: number; target: "background" };
    robustseg: Rate;
    torchattacks: Rate | null;
    worker: Rate;
    /** robustseg's steps/s ÷ torchattacks' (> 1: robustseg is faster). */
    ratioToTorchattacks: number | null;
    workerRatioToTorchattacks: number | null;
    agreement: Record<string, number> | null;
  } | null;
  methodOne: { inProcess: Rate; worker: Rate; layers: number; stepsPerLayer: number } | null;
  methodTwo: { images: number; classes: number; exhaustiveCandidates: number; strategies: StrategyRow[] } | null;
  controlPlane: {
    stage: string;
    inProcessSeconds: number | null;
    clientSeconds: number | null;
    cliSeconds: number | null;
    /** (client − in-process) / in-process, in percent: gRPC, streaming and the TypeScript client. */
    clientOverheadPercent: number | null;
    /** (CLI − in-process) / in-process, in percent: the above plus the CLI's own start-up. */
    cliOverheadPercent: number | null;
    workerStartSeconds: number | null;
  } | null;
  curves: {
    pgdVsTile: { tile: number; robustsegStepsPerSecond: number | null; torchattacksStepsPerSecond: number | null; ratio: number | null }[];
    methodTwoVsClasses: ClassCurvePoint[];
  } | null;
}

export interface SuiteOptions {
  size: BenchSize;
  device: WorkerDevice;
  /** Overrides the size's PGD, method-one and control-plane steps (long runs on CPU). */
  steps?: number | undefined;
  repeats?: number | undefined;
  /** Measurement groups to run (default: all). */
  only?: readonly BenchGroup[] | undefined;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export const STRATEGIES: readonly SelectionStrategy[] = [
  { kind: "exhaustive" },
  { kind: "greedy" },
  { kind: "beam", width: 3 },
  { kind: "beam", width: 9 },
  { kind: "surrogate" },
];

function rateOf(samples: { seconds: number; timing?: Timing | undefined }[], units: number, images: number): Rate {
  const seconds = samples.map((s) => s.seconds);
  const m = median(seconds);
  return {
    perSecond: ratio(units, m),
    secondsPerImage: ratio(m, images),
    samples: seconds,
    peakRssBytes: maxOrNull(samples.map((s) => s.timing?.peakRssBytes)),
    cudaMaxAllocatedBytes: maxOrNull(samples.map((s) => s.timing?.cudaMaxAllocatedBytes)),
  };
}

/** A CandidateScorer and estimator answered by the driver's in-process engine. */
function driverScoring(driver: BenchDriver, modelId: string, datasetId: string, epsilon: number) {
  const acc = { timings: [] as Timing[], forwardPasses: 0 };
  const flat = (imageIndices: readonly number[], candidates: readonly (readonly (readonly number[])[])[]) => {
    const idx: number[] = [];
    const rows: number[][] = [];
    candidates.forEach((list, j) => list.forEach((s) => (idx.push(imageIndices[j] as number), rows.push([...s]))));
    return { idx, rows };
  };
  const split = <T>(values: T[], candidates: readonly (readonly unknown[])[]): T[][] => {
    let start = 0;
    return candidates.map((list) => values.slice(start, (start += list.length)));
  };
  const scorer: CandidateScorer = async (request) => {
    const { idx, rows } = flat(request.imageIndices, request.candidates);
    const out = await driver.call<Timing & { losses: number[]; forwardPasses: number }>("score", {
      modelId, datasetId, epsilon, imageIndices: idx, candidates: rows,
    });
    acc.timings.push(out);
    acc.forwardPasses += out.forwardPasses;
    return split(out.losses, request.candidates);
  };
  const estimator: CandidateEstimator = async (request) => {
    const { idx, rows } = flat(request.imageIndices, request.candidates);
    const centres: number[][] = [];
    request.candidates.forEach((list, j) => list.forEach(() => centres.push([...(request.centres[j] as readonly number[])])));
    const out = await driver.call<Timing & { losses: number[]; exact: number[]; forwardPasses: number }>("score", {
      modelId, datasetId, epsilon, imageIndices: idx, candidates: rows, scoring: "logit_additive", centres,
    });
    acc.timings.push(out);
    acc.forwardPasses += out.forwardPasses;
    const values = split(out.losses, request.candidates);
    const exact = split(out.exact, request.candidates);
    return values.map((v, j) => ({ values: v, exact: exact[j] as number[] }));
  };
  return { scorer, estimator, acc };
}

export async function runSuite(options: SuiteOptions): Promise<BenchResults> {
  const size = options.size;
  const log = options.log ?? (() => {});
  const repeats = options.repeats ?? size.repeats;
  const steps = (n: number) => options.steps ?? n;
  const env = options.env ?? process.env;
  const groups = BENCH_GROUPS.filter((g) => !options.only || options.only.includes(g));
  const runs = (g: BenchGroup) => groups.includes(g);
  const startedAt = new Date();
  const t0 = performance.now();
  const loadBefore = loadavg();
  const workspace = await mkdtemp(join(tmpdir(), "robustseg-bench-"));
  let worker: SupervisedWorker | undefined;
  let driver: BenchDriver | undefined;
  try {
    // Worker start-up, apart from everything else: spawn to SERVING, then close.
    log("worker start-up");
    const startSamples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const { seconds, value } = await wallSeconds(() => spawnWorker({ workspace, device: options.device, env }));
      startSamples.push(seconds);
      await value.close();
    }
    worker = await spawnWorker({ workspace, device: options.device, env });
    const client = worker.client;

    // Data and the model, through the worker.
    log("data and model (through the worker)");
    const created = await createDataset(client, {
      source: "synthetic-histology", tileSize: size.data.tile, numTrain: size.data.train, numValidation: size.data.validation, numTest: 0, seed: 0,
    });
    const train = datasetOfSplit(created, "train");
    const validation = datasetOfSplit(created, "validation");
    const trained = await wallSeconds(() =>
      trainModel(client, {
        trainDatasetIds: [train.id],
        validationDatasetId: validation.id,
        model: { backend: "unet", architecture: "unet", depth: size.model.depth, baseWidth: size.model.baseWidth, upsampling: "bilinear" },
        training: { epochs: size.data.epochs, batchSize: 16, learningRate: 0.005, seed: 0, augment: true },
      }),
    );
    const modelId = trained.value.model.id;
    const classNames = trained.value.model.classNames;

    driver = BenchDriver.start(env);
    const opened = await driver.call<{ machine: Record<string, unknown> }>("open", { workspace, device: options.device });
    const d = driver;

    const pgdSteps = steps(size.pgd.steps);
    const pgdImages = Math.min(size.pgd.images, size.data.train);
    const torchattacksAvailable = opened.machine.torchattacks !== null;
    /** A worker dataset of `images` tiles (AttackDataset attacks a whole dataset). */
    const datasetOf = async (images: number, tile = size.data.tile) =>
      datasetOfSplit(await createDataset(client, { source: "synthetic-histology", tileSize: tile, numTrain: images, numValidation: 0, numTest: 0, seed: 0 }), "train").id;
    let seed = 1;
    const workerAttack = (attack: AttackParams, datasetId: string) => async () => {
      // A new seed each time (random start): a new artifact, so nothing is reused.
      const { seconds } = await wallSeconds(() =>
        attackDataset(client, { modelId, datasetId, attack: { ...attack, randomStart: true, seed: seed++ }, batchSize: pgdImages }),
      );
      return { seconds };
    };

    // PGD: robustseg's library, torchattacks, and robustseg through the worker, interleaved.
    const pgdResult = !runs("pgd") ? null : await (async (): Promise<NonNullable<BenchResults["pgd"]>> => {
    log(`PGD: ${pgdImages} tiles of ${size.data.tile}², ${pgdSteps} steps`);
    const pgdArgs = { modelId, datasetId: train.id, images: pgdImages, steps: pgdSteps, epsilon: size.pgd.epsilon, targetClass: 0 };
    const pgdDataset = await datasetOf(pgdImages);
    const pgdTasks: Record<string, () => Promise<{ seconds: number; timing?: Timing }>> = {
      robustseg: async () => {
        const t = await d.call<Timing>("pgd", { ...pgdArgs, impl: "robustseg" });
        return { seconds: t.seconds, timing: t };
      },
      worker: workerAttack({ method: "pgd", epsilon: size.pgd.epsilon, steps: pgdSteps, target: { class: 0 } }, pgdDataset),
    };
    if (torchattacksAvailable) {
      pgdTasks.torchattacks = async () => {
        const t = await d.call<Timing>("pgd", { ...pgdArgs, impl: "torchattacks" });
        return { seconds: t.seconds, timing: t };
      };
    }
    const pgd = await interleave(pgdTasks, repeats, { warmup: true });
    const pgdUnits = pgdImages * pgdSteps;
    const robustsegRate = rateOf(pgd.robustseg ?? [], pgdUnits, pgdImages);
    const torchattacksRate = torchattacksAvailable ? rateOf(pgd.torchattacks ?? [], pgdUnits, pgdImages) : null;
    const workerRate = rateOf(pgd.worker ?? [], pgdUnits, pgdImages);
    const agreement = torchattacksAvailable ? await d.call<Record<string, number>>("pgd_agreement", pgdArgs) : null;
    return {
      setup: { depth: size.model.depth, baseWidth: size.model.baseWidth, tile: size.data.tile, images: pgdImages, steps: pgdSteps, epsilon: size.pgd.epsilon, target: "background" },
      robustseg: robustsegRate,
      torchattacks: torchattacksRate,
      worker: workerRate,
      ratioToTorchattacks: ratio(robustsegRate.perSecond, torchattacksRate?.perSecond),
      workerRatioToTorchattacks: ratio(workerRate.perSecond, torchattacksRate?.perSecond),
      agreement,
    };
    })();

    // Method one: in-process and through the worker.
    const methodOneResult = !runs("method-one") ? null : await (async (): Promise<NonNullable<BenchResults["methodOne"]>> => {
    const m1 = size.methodOne;
    const m1Steps = steps(m1.steps);
    const m1Images = Math.min(m1.images, pgdImages);
    log(`method one: ${m1Images} tiles, ${classNames.length} layers of ${m1Steps} steps`);
    const m1Data = await datasetOf(m1Images);
    const m1Runs = await interleave(
      {
        inProcess: async () => {
          const t = await d.call<Timing>("method_one", { modelId, datasetId: train.id, images: m1Images, steps: m1Steps, epsilon: m1.epsilon });
          return { seconds: t.seconds, timing: t };
        },
        worker: workerAttack({ method: "layered-pgd", epsilon: m1.epsilon, steps: m1Steps, budget: "per-layer" }, m1Data),
      },
      repeats,
    );
    const m1Units = m1Images * m1Steps * classNames.length;
    return {
      inProcess: rateOf(m1Runs.inProcess ?? [], m1Units, m1Images),
      worker: rateOf(m1Runs.worker ?? [], m1Units, m1Images),
      layers: classNames.length,
      stepsPerLayer: m1Steps,
    };
    })();

    // Method two: every strategy over the driver's in-process scorer, each run paying its own
    // directions; quality against exhaustive's run of the same repeat.
    const methodTwoResult = !runs("method-two") ? null : await (async (): Promise<NonNullable<BenchResults["methodTwo"]>> => {
    const m2 = size.methodTwo;
    const m2Images = Math.min(m2.images, size.data.train);
    const imageIndices = Array.from({ length: m2Images }, (_, i) => i);
    log(`method two: ${m2Images} tiles, ${STRATEGIES.map(strategyLabel).join(", ")}`);
    const m2Samples = new Map<string, { seconds: number; run: SelectionRun; forwards: number; timings: Timing[] }[]>();
    const strategyTasks = Object.fromEntries(
      STRATEGIES.map((strategy) => [
        strategyLabel(strategy),
        async () => {
          await d.call("reset_caches");
          const scoring = driverScoring(d, modelId, train.id, m2.epsilon);
          const { seconds, value } = await wallSeconds(() =>
            selectSigns(scoring.scorer, { classCount: classNames.length, imageIndices, strategy, estimator: scoring.estimator }),
          );
          return { seconds, run: value, forwards: scoring.acc.forwardPasses, timings: scoring.acc.timings };
        },
      ]),
    );
    const m2Runs = await interleave(strategyTasks, repeats);
    for (const [label, runs] of Object.entries(m2Runs)) m2Samples.set(label, runs);
    const exhaustiveRuns = m2Samples.get("exhaustive") ?? [];
    const strategyRows: StrategyRow[] = STRATEGIES.map((strategy) => {
      const label = strategyLabel(strategy);
      const runs = m2Samples.get(label) ?? [];
      const sec = median(runs.map((r) => r.seconds));
      const last = runs.at(-1);
      const opt = exhaustiveRuns.at(-1);
      const cmp = last && opt ? compareSelections(opt.run, [last.run], classNames.length).strategies[0] : undefined;
      const perImage = last ? last.run.candidatesScored / m2Images : null;
      return {
        strategy: label,
        candidatesPerImage: perImage,
        candidatesPerSecond: last ? ratio(last.run.candidatesScored, sec) : null,
        secondsPerImage: ratio(sec, m2Images),
        forwardPassesPerImage: last ? last.forwards / m2Images : null,
        optimumShare: cmp?.optimumShare ?? null,
        reductionShare: cmp?.reductionCaptured ?? null,
        peakRssBytes: maxOrNull(runs.flatMap((r) => r.timings.map((t) => t.peakRssBytes))),
        cudaMaxAllocatedBytes: maxOrNull(runs.flatMap((r) => r.timings.map((t) => t.cudaMaxAllocatedBytes))),
        samples: runs.map((r) => r.seconds),
      };
    });
    return { images: m2Images, classes: classNames.length, exhaustiveCandidates: exhaustiveCandidateCount(classNames.length), strategies: strategyRows };
    })();

    // Control-plane overhead: an evaluation under PGD from the CLI (a new process against this
    // worker), from the TypeScript client in this process, and in-process in Python.
    const controlPlaneResult = !runs("control-plane") ? null : await (async (): Promise<NonNullable<BenchResults["controlPlane"]>> => {
    const cp = size.controlPlane;
    const cpSteps = steps(cp.steps);
    const cpImages = Math.min(cp.images, size.data.train);
    log(`control plane: evaluate ${cpImages} tiles under PGD (${cpSteps} steps)`);
    const cpData = await datasetOf(cpImages);
    const cpAttack: AttackParams = { method: "pgd", epsilon: 0.01, steps: cpSteps, target: { class: 0 } };
    const canonicalAttack = attackSpec(cpAttack, classNames);
    const cliArgs = [
      join(repoRoot, "bin", "robustseg.mjs"), "evaluate", "--worker", worker.address, "--model", modelId, "--dataset", cpData,
      "--attack", "pgd", "--epsilon", "0.01", "--steps", String(cpSteps), "--target", "0", "--batch-size", String(cpImages), "--json", "--quiet",
    ];
    const cpRuns = await interleave(
      {
        inProcess: async () => {
          const attack = { kind: "gradient", method: "pgd", epsilon: 0.01, steps: cpSteps, step_size: 0, random_start: false, seed: 0, target: { kind: "full_area_class", full_area_class: 0 } };
          const t = await d.call<Timing>("evaluate", { modelId, datasetId: cpData, attack, batchSize: cpImages });
          return { seconds: t.seconds };
        },
        client: async () => ({
          seconds: (await wallSeconds(() => evaluateModel(client, { modelId, datasetId: cpData, batchSize: cpImages, attack: canonicalAttack }))).seconds,
        }),
        cli: async () => ({
          seconds: (await wallSeconds(() => execa(process.execPath, cliArgs, { env: { ...env, ROBUSTSEG_TOKEN: worker?.token ?? "" } }))).seconds,
        }),
      },
      repeats,
    );
    const inProc = median((cpRuns.inProcess ?? []).map((r) => r.seconds));
    const viaClient = median((cpRuns.client ?? []).map((r) => r.seconds));
    const viaCli = median((cpRuns.cli ?? []).map((r) => r.seconds));
    const overhead = (x: number | null) => (x === null || inProc === null || inProc === 0 ? null : ((x - inProc) / inProc) * 100);
    return {
      stage: `evaluate ${cpImages} tiles under PGD (${cpSteps} steps, batch ${cpImages})`,
      inProcessSeconds: inProc,
      clientSeconds: viaClient,
      cliSeconds: viaCli,
      clientOverheadPercent: overhead(viaClient),
      cliOverheadPercent: overhead(viaCli),
      workerStartSeconds: median(startSamples),
    };
    })();

    // Cost curves.
    const curvesResult = !runs("curves") ? null : await (async (): Promise<NonNullable<BenchResults["curves"]>> => {
    const curveSteps = steps(size.curves.curveSteps);
    log(`PGD vs tile size: ${size.curves.tiles.join(", ")}`);
    const pgdVsTile: NonNullable<BenchResults["curves"]>["pgdVsTile"] = [];
    for (const tile of size.curves.tiles) {
      const data = await datasetOf(pgdImages, tile);
      const args = { modelId, datasetId: data, images: pgdImages, steps: curveSteps, epsilon: size.pgd.epsilon, targetClass: 0 };
      const tasks: Record<string, () => Promise<number>> = {
        robustseg: async () => (await d.call<Timing>("pgd", { ...args, impl: "robustseg" })).seconds,
      };
      if (torchattacksAvailable) tasks.torchattacks = async () => (await d.call<Timing>("pgd", { ...args, impl: "torchattacks" })).seconds;
      const runs = await interleave(tasks, repeats, { warmup: true });
      const ours = ratio(pgdImages * curveSteps, median(runs.robustseg ?? []));
      const theirs = torchattacksAvailable ? ratio(pgdImages * curveSteps, median(runs.torchattacks ?? [])) : null;
      pgdVsTile.push({ tile, robustsegStepsPerSecond: ours, torchattacksStepsPerSecond: theirs, ratio: ratio(ours, theirs) });
    }
    log(`method two vs classes: ${size.curves.classes.join(", ")}`);
    const methodTwoVsClasses: ClassCurvePoint[] = [];
    for (const classes of size.curves.classes) {
      const pair = await d.call<{ modelId: string; datasetId: string }>("random_pair", {
        classes, tile: size.curves.classTile, images: size.curves.classImages,
      });
      const indices = Array.from({ length: size.curves.classImages }, (_, i) => i);
      for (const strategy of STRATEGIES) {
        const label = strategyLabel(strategy);
        if (strategy.kind === "exhaustive" && exhaustiveCandidateCount(classes) > size.curves.exhaustiveUpTo) {
          methodTwoVsClasses.push({ classes, strategy: label, candidatesPerImage: exhaustiveCandidateCount(classes), secondsPerImage: null, run: false });
          continue;
        }
        const samples: { seconds: number; run: SelectionRun }[] = [];
        for (let r = 0; r < Math.min(repeats, 3); r++) {
          await d.call("reset_caches");
          const scoring = driverScoring(d, pair.modelId, pair.datasetId, 0.01);
          const { seconds, value } = await wallSeconds(() =>
            selectSigns(scoring.scorer, { classCount: classes, imageIndices: indices, strategy, estimator: scoring.estimator }),
          );
          samples.push({ seconds, run: value });
        }
        const last = samples.at(-1);
        methodTwoVsClasses.push({
          classes,
          strategy: label,
          candidatesPerImage: last ? last.run.candidatesScored / indices.length : null,
          secondsPerImage: ratio(median(samples.map((s) => s.seconds)), indices.length),
          run: true,
        });
      }
    }
    return { pgdVsTile, methodTwoVsClasses };
    })();

    const after = loadavg();
    return {
      schema: BENCH_SCHEMA,
      size: size.name,
      params: { ...size, repeats },
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      totalSeconds: (performance.now() - t0) / 1000,
      machine: { ...opened.machine, node: process.version, platform: `${process.platform}-${process.arch}` },
      groups: [...groups],
      load: { before: loadBefore.map((v) => Math.round(v * 100) / 100), after: after.map((v) => Math.round(v * 100) / 100), cores: cpus().length },
      workerStart: { seconds: median(startSamples), samples: startSamples },
      training: {
        images: size.data.train,
        epochs: size.data.epochs,
        seconds: trained.seconds,
        imagesPerSecond: (size.data.train * size.data.epochs) / trained.seconds,
      },
      pgd: pgdResult,
      methodOne: methodOneResult,
      methodTwo: methodTwoResult,
      controlPlane: controlPlaneResult,
      curves: curvesResult,
    };
  } finally {
    await driver?.close();
    await worker?.close();
    await rm(workspace, { recursive: true, force: true });
  }
}
