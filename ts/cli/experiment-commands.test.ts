// The experiment commands' usage errors, caught before any worker starts (the interpreter given
// cannot exist, so reaching the worker would fail differently).
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCliCaptured } from "../../test/fixtures/cli.js";
import { scratchDir } from "../../test/fixtures/scripts.js";

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[]) => runCliCaptured(argv, { env: { ROBUSTSEG_PYTHON: "/nonexistent/python-for-cli-test" }, prefix: ["--workspace", join(dir, "ws")] });

describe("experiment commands: usage errors", () => {
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "training:\n  epochs: -2\n");

  it.each([
    [["run"], "error: give a spec file or --preset demo|paper"],
    [["run", "--preset", "papers"], "error: --preset: must be one of demo, paper, study, got papers"],
    [["run", "--preset", "paper"], "error: data.path: required (the folder of the PanNuke folds; --data-path)"],
    [["run", "--preset", "paper", "--data-path", "/data/pannuke"], "error: data.trainFolds[0]: no such folder: /data/pannuke/Fold 1"],
    [["run", bad, "--preset", "demo"], `error: ${bad}: training.epochs: must be a positive integer`],
    [["attack", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--method", "deepfool"], "error: --method: must be one of fgsm, pgd, segpgd, cospgd, apgd, layered-pgd, got deepfool"],
    [["attack", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--epsilon", "0"], "error: --epsilon: must be a positive number, got 0"],
    [["enhance", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--strategy", "random"], "error: --strategy: must be exhaustive, greedy, beam:K, surrogate or surrogate:B, got random"],
    [["evaluate", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--attack-model", "m-fedcba9876543210"], "error: --attack-model: needs --attack"],
    [["compare-selection", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--strategies", "exhaustive"], "error: --strategies: needs at least one strategy besides exhaustive"],
    [["compare-selection", "--model", "m-0123456789abcdef", "--dataset", "ds-0123456789abcdef", "--strategies", "greedy,beam:x"], "error: --strategies: unknown strategy beam:x: expected greedy, greedy(N), beam:K, surrogate or surrogate:B"],
  ])("%j", async (argv, message) => {
    const { code, stdout, stderr } = await run(argv);
    expect(stderr).toBe(`${message}\n`);
    expect(stdout).toBe("");
    expect(code).toBe(2);
  });

  it("--help explains run, demo, attack, enhance and compare-selection", async () => {
    for (const command of ["run", "demo", "attack", "enhance", "compare-selection", "evaluate"]) {
      const { code, stdout } = await run([command, "--help"]);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`Usage: robustseg ${command}`));
      expect(stdout).toMatch(/--json/);
    }
  });
});
