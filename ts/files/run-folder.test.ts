// Run folders: a run writes only into its own experiment's folder, an empty or new one, or any
// with force; the marker says whose it is.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { temporaryPathFor } from "./atomic.js";
import { claimRunFolder, RUN_MARKER_FILE, runFolderProblem, specHash } from "./run-folder.js";

const dir = scratchDir("robustseg-run-folder-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("claimRunFolder", () => {
  it("marks a new folder and resumes it for the same experiment, a changed spec included", async () => {
    const run = join(dir, "tiny");
    await claimRunFolder(run, "tiny", { name: "tiny", epochs: 2 });
    const marker = JSON.parse(readFileSync(join(run, RUN_MARKER_FILE), "utf8"));
    expect(marker).toEqual({ schema: "robustseg.run-folder/v1", tool: "robustseg", name: "tiny", specHash: specHash({ epochs: 2, name: "tiny" }) });
    writeFileSync(join(run, "results.json"), "{}");
    await claimRunFolder(run, "tiny", { name: "tiny", epochs: 3 });
    expect(JSON.parse(readFileSync(join(run, RUN_MARKER_FILE), "utf8")).specHash).toBe(specHash({ name: "tiny", epochs: 3 }));
  });

  it("refuses another experiment's run folder unless forced", async () => {
    const run = join(dir, "other");
    await claimRunFolder(run, "first", {});
    writeFileSync(join(run, "results.json"), '{"mine": true}');
    await expect(claimRunFolder(run, "second", {})).rejects.toThrow(
      `--out: ${run} holds the run of another experiment ("first", not "second"); choose another folder, or pass --force to write into it anyway`,
    );
    await claimRunFolder(run, "second", {}, true);
    expect(JSON.parse(readFileSync(join(run, RUN_MARKER_FILE), "utf8")).name).toBe("second");
  });

  it("refuses a non-empty folder robustseg did not make, and keeps its files with force", async () => {
    const mine = join(dir, "mine");
    mkdirSync(mine);
    writeFileSync(join(mine, "notes.txt"), "keep me");
    expect(runFolderProblem(mine, "tiny")).toBe(`${mine} is not empty and is no robustseg run folder (1 entry, no ${RUN_MARKER_FILE}); choose another folder, or pass --force to write into it anyway`);
    await claimRunFolder(mine, "tiny", {}, true);
    expect(readFileSync(join(mine, "notes.txt"), "utf8")).toBe("keep me");
  });

  it("takes an empty folder, one holding only its own killed temporary, and a run folder from before markers", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    expect(runFolderProblem(empty, "tiny")).toBeUndefined();
    writeFileSync(temporaryPathFor(join(empty, RUN_MARKER_FILE)), "{");
    expect(runFolderProblem(empty, "tiny")).toBeUndefined();
    const legacy = join(dir, "legacy");
    mkdirSync(legacy);
    writeFileSync(join(legacy, "spec.json"), JSON.stringify({ name: "tiny" }));
    expect(runFolderProblem(legacy, "tiny")).toBeUndefined();
    expect(runFolderProblem(legacy, "demo")).toMatch(/holds the run of another experiment \("tiny", not "demo"\)/);
    expect(existsSync(join(legacy, RUN_MARKER_FILE))).toBe(false);
  });
});
