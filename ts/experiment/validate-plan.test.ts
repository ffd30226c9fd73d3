// The plan check's translation of the worker's request paths into the spec's fields, and what
// it sends: the source, the one model spec, both training configs, every attack in spec order.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { WorkerError } from "../client/errors.js";
import type { WorkerClient } from "../client/worker-client.js";
import type { ValidatePlanRequest, ValidatePlanResponse } from "../generated/robustseg/v1/worker_service.js";
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import { DEMO_SPEC, mergeSpec, parseSpec, SpecError } from "./spec.js";
import { plannedAttacks, specFieldOfPlanField, validateExperimentPlan } from "./validate-plan.js";

const spec = (over: unknown = {}) => parseSpec(mergeSpec(structuredClone(DEMO_SPEC), over));

describe("the worker's field paths in the spec's words", () => {
  const s = spec({ model: { backend: "smp", encoder: "resnet18" }, sweeps: [{ epsilons: [0, 0.005, 0.02] }] });

  it.each([
    ["models[0].smp.encoder", "model.encoder"],
    ["models[0].smp.encoder_depth", "model.encoderDepth"],
    ["models[0].smp.weights_file", "model.weightsFile"],
    ["models[0].smp", "model"],
    ["models[0]", "model"],
    ["models[0].monai.num_res_units", "model.numResUnits"],
    ["models[0].unet.base_width", "model.baseWidth"],
    ["source.synthetic_histology.tile_size", "data.tileSize"],
    ["source.synthetic_histology.num_validation", "data.validation"],
    ["source", "data"],
    ["trainings[0].batch_size", "training.batchSize"],
    ["trainings[0].learning_rate", "training.learningRate"],
    ["trainings[1].epochs", "training.epochs"],
    ["attacks[0].layered_pgd.class_order[2]", "methodOne.classOrder[2]"],
    ["attacks[0].layered_pgd.step_size", "methodOne.stepSize"],
    ["attacks[1].gradient.epsilon", "evaluation.attack.epsilon"],
    ["attacks[1].gradient.target.full_area_class", "evaluation.attack.target"],
    ["attacks[1]", "evaluation.attack"],
    ["attacks[2].gradient.epsilon", "sweeps[0].epsilons[1]"],
    ["attacks[3].gradient.epsilon", "sweeps[0].epsilons[2]"],
    ["attacks[3].gradient.steps", "sweeps[0].attack.steps"],
  ])("%s → %s", (field, expected) => {
    expect(specFieldOfPlanField(field, s)).toBe(expected);
  });

  it("baselines, the strong ensemble and the trust checks name their own fields", () => {
    const full = spec({ baselines: [{ method: "pgd-at", epochs: 3 }, "segpgd-at"], evaluation: { protocols: ["white-box", "worst-case"], strong: { losses: ["js", "masked-ce"] } } });
    const attacks = plannedAttacks(full);
    // methodOne, evaluation, the demo sweep's two ε > 0, two APGD members, then ε = 0.1 and 20 steps.
    expect(attacks.map((a) => a.field)).toEqual(["methodOne", "evaluation.attack", "sweeps[0].attack", "sweeps[0].attack", "evaluation.strong", "evaluation.strong", "evaluation.attack", "evaluation.attack"]);
    expect(specFieldOfPlanField("attacks[5].apgd.loss", full, attacks)).toBe("evaluation.strong.losses[1]");
    expect(specFieldOfPlanField("attacks[4].apgd.steps", full, attacks)).toBe("evaluation.strong.steps");
    expect(specFieldOfPlanField("attacks[4].apgd.epsilon", full, attacks)).toBe("evaluation.attack.epsilon");
    expect(specFieldOfPlanField("attacks[6].gradient.epsilon", full, attacks)).toBe("trust.largeEpsilon");
    expect(specFieldOfPlanField("attacks[7].gradient.steps", full, attacks)).toBe("trust.moreSteps");
    expect(specFieldOfPlanField("trainings[2].adversarial.step_size", full, attacks)).toBe("baselines[0].stepSize");
    expect(specFieldOfPlanField("trainings[2].adversarial.method", full, attacks)).toBe("baselines[0]");
    expect(specFieldOfPlanField("trainings[2].epochs", full, attacks)).toBe("baselines[0].epochs");
    expect(specFieldOfPlanField("trainings[3].epochs", full, attacks)).toBe("training.epochs");
  });

  it("M4's epochs are training.combinedEpochs when the spec sets them", () => {
    expect(specFieldOfPlanField("trainings[1].epochs", spec({ training: { combinedEpochs: 2 } }))).toBe("training.combinedEpochs");
  });

  it("data fields of the file sources keep their names", () => {
    const folder = parseSpec({ ...structuredClone(DEMO_SPEC), data: { source: "folder", path: "/x" } });
    expect(specFieldOfPlanField("source.folder.test_fraction", folder)).toBe("data.testFraction");
    expect(specFieldOfPlanField("source.folder.tile_size", folder)).toBe("data.tileSize");
  });
});

/** A WorkerClient whose ValidatePlan answers with `answer` and records the requests. */
function planClient(answer: (r: ValidatePlanRequest) => ValidatePlanResponse | Error): WorkerClient & { requests: ValidatePlanRequest[] } {
  const requests: ValidatePlanRequest[] = [];
  return {
    requests,
    validatePlan: async (request: ValidatePlanRequest) => {
      requests.push(request);
      const out = answer(request);
      if (out instanceof Error) throw out;
      return out;
    },
  } as unknown as WorkerClient & { requests: ValidatePlanRequest[] };
}

const CLASSES = ["background", "neoplastic", "inflammatory", "connective", "dead", "epithelial"];
const ok = (r: ValidatePlanRequest): ValidatePlanResponse => ({ classNames: r.source ? CLASSES : [], models: r.models, tileHeight: 64, tileWidth: 64 });

describe("validateExperimentPlan", () => {
  it("sends the source, one model spec, M1-M3's and M4's training, then every attack with targets resolved", async () => {
    const s = spec();
    const client = planClient(ok);
    const check = await validateExperimentPlan(client, s);
    expect(check?.classNames).toEqual(CLASSES);
    expect(check?.model).toEqual(s.model);
    const [first, second] = client.requests;
    expect(first?.source?.source?.$case).toBe("syntheticHistology");
    expect(first?.models).toHaveLength(1);
    expect(first?.trainings.map((t) => t.epochs)).toEqual([12, 4]);
    expect(second?.numClasses).toBe(6);
    expect(second?.attacks).toHaveLength(plannedAttacks(s).length);
    // methodOne, the evaluation attack, the sweep's two ε > 0, the trust checks' ε = 0.1 and more steps
    expect(second?.attacks.map((a) => a.attack?.$case)).toEqual(["layeredPgd", "gradient", "gradient", "gradient", "gradient", "gradient"]);
    const evaluation = second?.attacks[1]?.attack;
    expect(evaluation?.$case === "gradient" && evaluation.value.target?.target).toEqual({ $case: "fullAreaClass", value: 0 });
  });

  it("sends each baseline's adversarial training and the ensemble's APGD members", async () => {
    const client = planClient(ok);
    await validateExperimentPlan(client, spec({ baselines: ["pgd-at", { method: "segpgd-at", cleanFraction: 0.5 }], evaluation: { protocols: ["worst-case"] } }));
    const [first, second] = client.requests;
    expect(first?.trainings.map((t) => t.adversarial?.method)).toEqual([undefined, undefined, AttackMethod.ATTACK_METHOD_PGD, AttackMethod.ATTACK_METHOD_SEGPGD]);
    expect(first?.trainings[3]?.adversarial).toMatchObject({ epsilon: 0.01, steps: 3, randomStart: true, cleanFraction: 0.5 });
    expect(second?.attacks.filter((a) => a.attack?.$case === "apgd")).toHaveLength(5);
  });

  it("turns the worker's INVALID_ARGUMENT into one SpecError naming the spec file and field", async () => {
    const client = planClient(() => new WorkerError(status.INVALID_ARGUMENT, "models[0].smp.encoder: unknown encoder 'resnet1000'", "ValidatePlan"));
    const error = await validateExperimentPlan(client, spec({ model: { backend: "smp", encoder: "resnet1000" } }), { file: "x.yaml" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).message).toBe("x.yaml: model.encoder: unknown encoder 'resnet1000'");
  });

  it("names the attack's target when the source has no such class", async () => {
    const client = planClient(ok);
    const error = await validateExperimentPlan(client, spec({ evaluation: { attack: { target: "tumour" } } }), { file: "x.yaml" }).catch((e: unknown) => e);
    expect((error as SpecError).message).toBe(`x.yaml: evaluation.attack.target: unknown class "tumour" (classes: ${CLASSES.join(", ")})`);
  });

  it("lets other failures through, and skips the check on a worker without ValidatePlan", async () => {
    const down = planClient(() => new WorkerError(status.UNAVAILABLE, "gone", "ValidatePlan"));
    await expect(validateExperimentPlan(down, spec())).rejects.toBeInstanceOf(WorkerError);
    const old = planClient(() => new WorkerError(status.UNIMPLEMENTED, "", "ValidatePlan"));
    await expect(validateExperimentPlan(old, spec())).resolves.toBeUndefined();
  });
});

describe("a backend the worker cannot build", () => {
  it("is a SpecError naming the model block", async () => {
    const client = planClient(() => new WorkerError(status.FAILED_PRECONDITION, "models[0].monai: this worker cannot build it: pip install monai==1.6.1", "ValidatePlan"));
    const error = await validateExperimentPlan(client, spec({ model: { backend: "monai" } }), { file: "m.yaml" }).catch((e: unknown) => e);
    expect((error as SpecError).message).toBe("m.yaml: model: this worker cannot build it: pip install monai==1.6.1");
  });
});
