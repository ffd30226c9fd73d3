// Commands write only where the user meant (docs/reliability.md, "Data safety"): every refusal
// here comes before a worker is reached (the CLI points at a port where nothing listens), names
// the option, and leaves what was at the path as it was.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RUN_MARKER_FILE } from "../ts/files/run-folder.js";
import { runCliCaptured } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-output-safety-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODEL = "m-0123456789abcdef";
/** The CLI against a worker address where nothing listens: any call to it would fail. */
const cli = (argv: string[]) => runCliCaptured(["--worker", "127.0.0.1:1", ...argv]);

function fifo(name: string): string {
  const path = join(dir, name);
  expect(spawnSync("mkfifo", [path]).status).toBe(0);
  return path;
}

describe("export --out", () => {
  it.each([
    ["/dev/full", () => "/dev/full", "a character device"],
    ["a FIFO", () => fifo("model.onnx"), "a FIFO"],
    [
      "a link to a device",
      () => {
        const link = join(dir, "null.onnx");
        symlinkSync("/dev/null", link);
        return link;
      },
      "a character device",
    ],
    [
      "a link in a loop",
      () => {
        const [a, b] = [join(dir, "loop-a"), join(dir, "loop-b")];
        symlinkSync(b, a);
        symlinkSync(a, b);
        return a;
      },
      "a symbolic link that leads nowhere (dangling, or in a loop)",
    ],
  ])("refuses %s and leaves it as it was", async (_what, make, kind) => {
    const out = make();
    const { code, stderr } = await cli(["export", MODEL, "--format", "onnx", "--out", out]);
    expect(stderr).toBe(`error: --out: ${out} is ${kind}, not a file or folder\n`);
    expect(code).toBe(2);
    expect(lstatSync(out).isFile()).toBe(false);
  });

  it("refuses a path inside the spawned worker's workspace", async () => {
    const workspace = join(dir, "workspace");
    mkdirSync(join(workspace, "exports"), { recursive: true });
    const out = join(workspace, "exports", "m.onnx");
    const { code, stderr } = await runCliCaptured(["--workspace", workspace, "export", MODEL, "--out", out]);
    expect(stderr).toBe(`error: --out: ${out} is inside the workspace ${workspace}; choose a path outside it\n`);
    expect(code).toBe(2);
  });
});

describe("predict and probe --out", () => {
  const images = join(dir, "images");
  mkdirSync(images, { recursive: true });
  writeFileSync(join(images, "a.png"), "the user's image");

  it.each(["predict", "probe"])("%s: --out equal to the --input folder is refused", async (command) => {
    const { code, stderr } = await cli([command, "--model", MODEL, "--input", images, "--out", images]);
    expect(stderr).toBe(`error: --out: ${images} is --input itself; the outputs would overwrite the inputs\n`);
    expect(code).toBe(2);
    expect(readFileSync(join(images, "a.png"), "utf8")).toBe("the user's image");
  });

  it("--out inside the --input folder is refused", async () => {
    const masks = join(images, "masks");
    const { code, stderr } = await cli(["predict", "--model", MODEL, "--input", images, "--out", masks]);
    expect(stderr).toBe(`error: --out: ${masks} is inside --input ${images}; choose a path outside it\n`);
    expect(code).toBe(2);
    expect(readdirSync(images)).toEqual(["a.png"]);
  });

  it("--out that is the folder of an --input file is refused, and a link to --input too", async () => {
    const input = join(images, "a.png");
    const beside = await cli(["predict", "--model", MODEL, "--input", input, "--out", images]);
    expect(beside.stderr).toBe(`error: --out: ${images} holds --input ${input}; its outputs would be written beside it under its name\n`);
    expect(beside.code).toBe(2);
    const link = join(dir, "images-link");
    symlinkSync(images, link);
    const linked = await cli(["predict", "--model", MODEL, "--input", images, "--out", link]);
    expect(linked.stderr).toBe(`error: --out: ${link} is --input itself; the outputs would overwrite the inputs\n`);
    expect(readdirSync(images)).toEqual(["a.png"]);
  });

  it("--out that is a FIFO is refused", async () => {
    const out = fifo("masks");
    const { code, stderr } = await cli(["predict", "--model", MODEL, "--input", images, "--out", out]);
    expect(stderr).toBe(`error: --out: ${out} is a FIFO, not a folder\n`);
    expect(code).toBe(2);
  });
});

describe("run and demo --out", () => {
  it("refuses a folder of files robustseg did not write; --force gets past the check and keeps them", async () => {
    const out = join(dir, "notes");
    mkdirSync(out);
    writeFileSync(join(out, "results.json"), "the user's results");
    const refused = await cli(["demo", "--out", out]);
    expect(refused.stderr).toBe(
      `error: --out: ${out} is not empty and is no robustseg run folder (1 entry, no ${RUN_MARKER_FILE}); choose another folder, or pass --force to write into it anyway\n`,
    );
    expect(refused.code).toBe(2);
    const forced = await cli(["demo", "--out", out, "--force"]);
    // Past the folder check, the run needs the worker, which is not there.
    expect(forced.stderr).toMatch(/^error: cannot reach a worker at 127\.0\.0\.1:1/);
    expect(forced.code).toBe(1);
    expect(readFileSync(join(out, "results.json"), "utf8")).toBe("the user's results");
  });

  it("refuses another experiment's run folder", async () => {
    const out = join(dir, "other-run");
    mkdirSync(out);
    writeFileSync(join(out, RUN_MARKER_FILE), JSON.stringify({ schema: "robustseg.run-folder/v1", tool: "robustseg", name: "tiny", specHash: "" }));
    writeFileSync(join(out, "results.json"), "tiny's results");
    const { code, stderr } = await cli(["run", "--preset", "demo", "--out", out]);
    expect(stderr).toBe(`error: --out: ${out} holds the run of another experiment ("tiny", not "demo"); choose another folder, or pass --force to write into it anyway\n`);
    expect(code).toBe(2);
    expect(readFileSync(join(out, "results.json"), "utf8")).toBe("tiny's results");
  });

  it("takes an empty folder and the same experiment's folder up to the worker", async () => {
    const out = join(dir, "demo-run");
    mkdirSync(out);
    expect((await cli(["demo", "--out", out])).stderr).toMatch(/^error: cannot reach a worker at 127\.0\.0\.1:1/);
    writeFileSync(join(out, RUN_MARKER_FILE), JSON.stringify({ schema: "robustseg.run-folder/v1", tool: "robustseg", name: "demo", specHash: "" }));
    writeFileSync(join(out, "results.json"), "{}");
    expect((await cli(["demo", "--out", out])).stderr).toMatch(/^error: cannot reach a worker at 127\.0\.0\.1:1/);
    expect(existsSync(join(out, "results.json"))).toBe(true);
  });
});
