import { describe, expect, it } from "vitest";
import { camelPath, specFieldOf, splitFieldMessage } from "./field-paths.js";

describe("contract field paths", () => {
  it("camel-case each part and keep indices", () => {
    expect(camelPath("train_folds[1]")).toBe("trainFolds[1]");
    expect(camelPath("target.full_area_class")).toBe("target.fullAreaClass");
    expect(specFieldOf("num_train", { num_train: "train" })).toBe("train");
    expect(specFieldOf("class_order[3]")).toBe("classOrder[3]");
    expect(specFieldOf("")).toBe("");
  });

  it("split the worker's 'FIELD: message' details", () => {
    expect(splitFieldMessage("models[0].smp.encoder: unknown encoder 'x': see info")).toEqual({ field: "models[0].smp.encoder", message: "unknown encoder 'x': see info" });
    expect(splitFieldMessage("no field here")).toBeUndefined();
  });
});
