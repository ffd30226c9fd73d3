// The worker refuses an ε (or a PGD step) too small for float32 to move a pixel near 1, naming the
// request's field; the CLI reports it under the flag the user typed.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { WorkerError } from "../client/errors.js";
import { attackFieldRoutes } from "./attack-options.js";
import { UsageError } from "./errors.js";
import { cliErrorOf } from "./worker-fields.js";

// The worker's messages as python_worker/robustseg_worker/attack_specs.py words them.
const EPSILON = "must be >= 1e-06 (float32 holds pixels near 1 only 6e-08 apart: a smaller ε leaves them, or most of them, as they were), got 1e-09";
const STEPS = "must be <= 41 with epsilon 1e-06 (more make the default step 2.5·ε/steps smaller than float32's spacing near 1, 5.96e-08, which leaves pixels there as they were) or set step_size, got 100";
const STEP_SIZE = "must be >= 5.96e-08 (float32's spacing near 1: a smaller step leaves pixels there as they were) or 0 for 2.5·ε/steps, got 1e-09";

const refused = (details: string) => new WorkerError(status.INVALID_ARGUMENT, details, "AttackDataset");

describe("an ε below the floor, from the worker, under the command's flag", () => {
  it.each([
    ["pgd", `attack.gradient.epsilon: ${EPSILON}`, `--epsilon: ${EPSILON}`],
    ["fgsm", `attack.gradient.epsilon: ${EPSILON}`, `--epsilon: ${EPSILON}`],
    ["pgd", `attack.gradient.steps: ${STEPS}`, `--steps: ${STEPS}`],
    ["pgd", `attack.gradient.step_size: ${STEP_SIZE}`, `--step-size: ${STEP_SIZE}`],
    ["layered-pgd", `attack.layered_pgd.epsilon: ${EPSILON}`, `--epsilon: ${EPSILON}`],
  ])("%s: %s", (method, details, expected) => {
    const error = cliErrorOf(refused(details), { routes: attackFieldRoutes(method) });
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(expected);
  });
});
