// What goes out for an image: every image that is sent arrives whole (bands cover its rows), and
// one the worker would not get as given is refused by field before anything is sent.
import { describe, expect, it } from "vitest";
import { DType } from "../generated/robustseg/v1/common.js";
import { type ImageInput, imageChunks } from "./image-stream.js";

const uint8 = (height: number, width: number): ImageInput => ({ name: "tile", height, width, pixels: { dtype: "uint8", data: new Uint8Array(height * width * 3) } });

describe("imageChunks", () => {
  it("sends a 1x1 image of either dtype as one band", () => {
    const [band, ...rest] = imageChunks(uint8(1, 1));
    expect(rest).toEqual([]);
    expect(band).toMatchObject({ name: "tile", height: 1, width: 1, rowOffset: 0, pixels: { shape: [1, 1, 3], dtype: DType.DTYPE_UINT8 } });
    const floats = imageChunks({ name: "f", height: 1, width: 1, pixels: { dtype: "float32", data: Float32Array.of(0.25, 0.5, 1) } });
    expect(floats.map((c) => c.pixels?.shape)).toEqual([[3, 1, 1]]);
    expect([...new Float32Array(new Uint8Array(floats[0]?.pixels?.data ?? []).buffer)]).toEqual([0.25, 0.5, 1]);
  });

  it("covers every row of a tall image with bands", () => {
    const bands = imageChunks(uint8(10, 4), 4 * 3 * 3);
    expect(bands.map((c) => [c.rowOffset, c.pixels?.shape[0]])).toEqual([[0, 3], [3, 3], [6, 3], [9, 1]]);
  });

  it.each([
    [{ height: 0 }, "image tile: height: must be an integer >= 1, got 0"],
    [{ width: 0 }, "image tile: width: must be an integer >= 1, got 0"],
    [{ height: Number.NaN }, "image tile: height: must be an integer >= 1, got NaN"],
    [{ width: 1.5 }, "image tile: width: must be an integer >= 1, got 1.5"],
    [{ height: Number.POSITIVE_INFINITY }, "image tile: height: must be an integer >= 1, got Infinity"],
  ])("refuses a side that is no whole number >= 1: %o", (sides, message) => {
    expect(() => imageChunks({ ...uint8(2, 2), ...sides })).toThrow(message);
  });

  it("refuses a dtype it cannot send as given, and data of another element type", () => {
    const uint16 = { name: "tile", height: 1, width: 1, pixels: { dtype: "uint16", data: Uint16Array.of(1000, 2000, 65535) } } as unknown as ImageInput;
    expect(() => imageChunks(uint16)).toThrow("image tile: pixels.dtype: must be uint8 or float32, got uint16");
    const mislabelled = { name: "tile", height: 1, width: 1, pixels: { dtype: "float32", data: Uint16Array.of(1, 2, 3) } } as unknown as ImageInput;
    expect(() => imageChunks(mislabelled)).toThrow("image tile: pixels.data: must be a Float32Array for dtype float32, got Uint16Array");
    const floatsAsBytes = { name: "tile", height: 1, width: 1, pixels: { dtype: "uint8", data: [1, 2, 3] } } as unknown as ImageInput;
    expect(() => imageChunks(floatsAsBytes)).toThrow("image tile: pixels.data: must be a Uint8Array for dtype uint8, got Array");
  });

  it("refuses data whose length does not fit the sides, and an image without a name", () => {
    expect(() => imageChunks({ ...uint8(2, 2), height: 3 })).toThrow("image tile: pixels.data: 12 values for 2x3x3");
    expect(() => imageChunks({ ...uint8(1, 1), name: undefined } as unknown as ImageInput)).toThrow("image name: must be a string, got undefined");
  });
});
