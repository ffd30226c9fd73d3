// Numbers on the command line are read one way: decimal notation only. JavaScript's Number()
// reads "0x10" as 16, so `--epsilon 0x10` used to pass as ε = 16 (and "0b1", "Infinity" likewise).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCliCaptured } from "../../test/fixtures/cli.js";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { DECIMAL_NUMBER, finiteNumber } from "../extensions/option-values.js";
import { positiveNumber } from "./option-schemas.js";

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const noWorker = { ROBUSTSEG_PYTHON: "/nonexistent/python-for-cli-test" };
const M = "m-0123456789abcdef";
const D = "ds-0123456789abcdef";

describe("decimal notation", () => {
  it.each(["16", "0.01", ".5", "1.", "+2", "-0.5", "1e-3", "2.5E+4", "5e-324"])("accepts %s", (text) => {
    expect(DECIMAL_NUMBER.test(text)).toBe(true);
    expect(finiteNumber().parse(text)).toBe(Number(text));
  });

  it.each(["0x10", "0X1f", "0b11", "0o17", "1_000", "Infinity", "-Infinity", "NaN", "1e", "e3", ".", "1..2", "0x"])("refuses %s", (text) => {
    expect(DECIMAL_NUMBER.test(text)).toBe(false);
    expect(positiveNumber().safeParse(text).success).toBe(false);
  });

  it("says what notation it wants when Number() would have read something else", () => {
    const issue = positiveNumber().safeParse("0x10").error?.issues[0]?.message;
    expect(issue).toBe("must be a positive number in decimal notation (e.g. 0.01, 16, 1e-3), got 0x10");
    expect(positiveNumber().safeParse("abc").error?.issues[0]?.message).toBe("must be a positive number, got abc");
    expect(positiveNumber().parse(0.01)).toBe(0.01); // commander's defaults arrive as numbers
  });
});

describe("the command line refuses hex and other notations under the flag", () => {
  it.each([
    [["attack", "--model", M, "--dataset", D, "--epsilon", "0x10"], "--epsilon: must be a positive number in decimal notation (e.g. 0.01, 16, 1e-3), got 0x10"],
    [["attack", "--model", M, "--dataset", D, "--step-size", "0b1"], "--step-size: must be a positive number in decimal notation (e.g. 0.01, 16, 1e-3), got 0b1"],
    [["train", "--train", D, "--validation", D, "--lr", "0x1"], "--lr: must be a positive number in decimal notation (e.g. 0.01, 16, 1e-3), got 0x1"],
    [["attack", "--model", M, "--dataset", D, "--epsilon", "Infinity"], "--epsilon: must be a positive number, got Infinity"],
  ])("%j", async (argv, expected) => {
    const { code, stderr } = await runCliCaptured(argv, { env: noWorker, prefix: ["--workspace", join(dir, "ws")] });
    expect(stderr).toBe(`error: ${expected}\n`);
    expect(code).toBe(2);
  });
});
