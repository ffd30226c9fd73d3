import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { imageChunks } from "../client/image-stream.js";
import { DType } from "../generated/robustseg/v1/common.js";
import { NpyError, readNpy, writeNpyFloat32 } from "./npy.js";
import { decodePng, encodeMaskPng, encodeRgbPng } from "./png.js";

describe("palette masks and RGB PNGs", () => {
  it("a mask's pixel values are class indices and its palette the class colours", () => {
    const labels = Uint8Array.from([0, 1, 2, 2, 1, 0]);
    const png = encodeMaskPng(3, 2, labels, ["#dddddd", "#cc6677", "#332288"]);
    expect(png[25]).toBe(3); // colour type 3: palette
    const decoded = PNG.sync.read(png);
    const rgb = Array.from({ length: 6 }, (_, i) => Array.from(decoded.data.subarray(i * 4, i * 4 + 3)));
    expect(rgb).toEqual([[221, 221, 221], [204, 102, 119], [51, 34, 136], [51, 34, 136], [204, 102, 119], [221, 221, 221]]);
  });

  it("RGB round-trips through pngjs", () => {
    const data = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expect(decodePng(encodeRgbPng({ width: 5, height: 4, data }))).toEqual({ width: 5, height: 4, data });
  });

  it("refuses what a palette PNG cannot hold", () => {
    expect(() => encodeMaskPng(2, 2, new Uint8Array(3), ["#000000"])).toThrow(/mask of 3 pixels for 2x2/);
    expect(() => encodeMaskPng(1, 1, new Uint8Array(1), Array(257).fill("#000000"))).toThrow(/1 to 256 classes/);
  });
});

describe(".npy", () => {
  it("float32 arrays round-trip with a 64-byte aligned header", () => {
    const values = Float32Array.from([0, 0.25, 1, -2.5, 3e-7, 7]);
    const bytes = writeNpyFloat32([2, 3], values);
    expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0);
    expect(readNpy(bytes)).toEqual({ dtype: "float32", shape: [2, 3], data: values });
  });

  it("names what it cannot read", () => {
    expect(() => readNpy(Buffer.from("not numpy"), "x.npy")).toThrow(NpyError);
  });
});

describe("image bands", () => {
  it("split an image into row bands within the byte budget, in the contract's layouts", () => {
    const data = Uint8Array.from({ length: 7 * 4 * 3 }, (_, i) => i % 256);
    const chunks = imageChunks({ name: "a", height: 7, width: 4, pixels: { dtype: "uint8", data } }, 30);
    expect(chunks.map((c) => [c.rowOffset, c.pixels?.shape])).toEqual([[0, [2, 4, 3]], [2, [2, 4, 3]], [4, [2, 4, 3]], [6, [1, 4, 3]]]);
    expect(Buffer.concat(chunks.map((c) => c.pixels?.data as Buffer))).toEqual(Buffer.from(data));
    const floats = Float32Array.from({ length: 3 * 3 * 2 }, (_, i) => i / 18);
    const [first, second] = imageChunks({ name: "f", height: 3, width: 2, pixels: { dtype: "float32", data: floats } }, 48);
    expect(first?.pixels?.dtype).toBe(DType.DTYPE_FLOAT32);
    expect([first?.pixels?.shape, second?.pixels?.shape, second?.rowOffset]).toEqual([[3, 2, 2], [3, 1, 2], 2]);
    // The last band holds row 2 of each channel: floats[c*6 + 4], floats[c*6 + 5].
    const band = second?.pixels?.data as Buffer;
    expect(Array.from({ length: 6 }, (_, i) => band.readFloatLE(i * 4))).toEqual([4, 5, 10, 11, 16, 17].map((k) => floats[k] as number));
  });
});
