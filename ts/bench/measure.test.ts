import { describe, expect, it } from "vitest";
import { interleave, median, ratio } from "./measure.js";

describe("bench measures", () => {
  it("median of odd and even counts, null when empty", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it("ratio is null without a denominator", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
  });

  it("interleaves with a rotating order and records every repeat", async () => {
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(name);
      return name.length;
    };
    const out = await interleave({ a: task("a"), bb: task("bb"), ccc: task("ccc") }, 3, { warmup: true });
    expect(order).toEqual(["a", "bb", "ccc", "a", "bb", "ccc", "bb", "ccc", "a", "ccc", "a", "bb"]);
    expect(out).toEqual({ a: [1, 1, 1], bb: [2, 2, 2], ccc: [3, 3, 3] });
  });
});
