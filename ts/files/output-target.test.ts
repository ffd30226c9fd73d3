// The output policy: a target is a regular file or a folder (through links too), checked again
// before the rename; an output never overwrites an input.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { checkOutputApartFromInputs, checkOutputKind, checkReplaceable, outputKindProblem, realPathOf } from "./output-target.js";
import { writeFileAtomic } from "./atomic.js";

const dir = scratchDir("robustseg-output-target-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const path = join(dir, name);
  expect(spawnSync("mkfifo", [path]).status).toBe(0);
  return path;
}

describe("the kind of an output", () => {
  it("refuses a character device, a FIFO and a link to a device, naming the option", () => {
    expect(() => checkOutputKind("--out", "/dev/full", "file or folder")).toThrow("--out: /dev/full is a character device, not a file or folder");
    const pipe = fifo("pipe");
    expect(() => checkOutputKind("--out", pipe, "file or folder")).toThrow(`--out: ${pipe} is a FIFO, not a file or folder`);
    const link = join(dir, "null-link");
    symlinkSync("/dev/null", link);
    expect(outputKindProblem(link, "file")).toBe(`${link} is a character device, not a file`);
  });

  it("takes a regular file, a folder or nothing, each where it belongs", () => {
    const file = join(dir, "plain.txt");
    writeFileSync(file, "x");
    expect(outputKindProblem(file, "file or folder")).toBeUndefined();
    expect(outputKindProblem(dir, "folder")).toBeUndefined();
    expect(outputKindProblem(join(dir, "new"), "file")).toBeUndefined();
    expect(outputKindProblem(file, "folder")).toBe(`${file} is a file, not a folder`);
  });

  it("a FIFO that appears at the target before the rename is left as it was", async () => {
    const target = fifo("appeared.json");
    expect(() => checkReplaceable(target, "--out")).toThrow(`--out: ${target} is a FIFO, not a file; refusing to replace it`);
    await expect(writeFileAtomic(target, "{}")).rejects.toThrow(/is a FIFO/);
    expect(spawnSync("test", ["-p", target]).status).toBe(0);
  });
});

describe("an output apart from its inputs", () => {
  const images = join(dir, "images");
  mkdirSync(images, { recursive: true });
  writeFileSync(join(images, "a.png"), "png");

  it("refuses an output folder equal to the input folder, or a link to it", () => {
    expect(() => checkOutputApartFromInputs({ option: "--out", path: images, shape: "folder" }, [{ option: "--input", path: images }])).toThrow(
      `--out: ${images} is --input itself; the outputs would overwrite the inputs`,
    );
    const link = join(dir, "images-link");
    symlinkSync(images, link);
    expect(realPathOf(join(link, "x"))).toBe(join(realPathOf(images), "x"));
    expect(() => checkOutputApartFromInputs({ option: "--out", path: link, shape: "folder" }, [{ option: "--input", path: images }])).toThrow(/is --input itself/);
  });

  it("refuses a folder inside an input folder", () => {
    const masks = join(images, "masks");
    expect(() => checkOutputApartFromInputs({ option: "--out", path: masks, shape: "folder" }, [{ option: "--input", path: images }])).toThrow(
      `--out: ${masks} is inside --input ${images}; choose a path outside it`,
    );
    expect(() => checkOutputApartFromInputs({ option: "--out", path: dir, shape: "folder" }, [{ option: "--input", path: images }])).not.toThrow();
  });

  it("refuses the folder an input file is in, and takes a subfolder of it", () => {
    const input = join(images, "a.png");
    expect(() => checkOutputApartFromInputs({ option: "--out", path: images, shape: "folder" }, [{ option: "--input", path: input }])).toThrow(
      `--out: ${images} holds --input ${input}; its outputs would be written beside it under its name`,
    );
    expect(() => checkOutputApartFromInputs({ option: "--out", path: join(images, "masks"), shape: "folder" }, [{ option: "--input", path: input }])).not.toThrow();
  });

  it("refuses anything inside the workspace", () => {
    const workspace = join(dir, "workspace");
    mkdirSync(join(workspace, "exports"), { recursive: true });
    const out = join(workspace, "exports", "m.onnx");
    expect(() => checkOutputApartFromInputs({ option: "--out", path: out, shape: "file or folder" }, [{ option: "the workspace", path: workspace }])).toThrow(
      `--out: ${out} is inside the workspace ${workspace}; choose a path outside it`,
    );
    expect(() => checkOutputApartFromInputs({ option: "--out", path: join(dir, "m.onnx"), shape: "file or folder" }, [{ option: "the workspace", path: workspace }])).not.toThrow();
  });
});
