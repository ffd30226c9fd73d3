// makeFolder: levels made one at a time, and a one-line error naming the option where no folder
// can be made (a file in the way, a symlink loop, a name too long, /proc).
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { describeFileError, FolderError, makeFolder } from "./make-folder.js";

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function folderError(path: string): string {
  try {
    makeFolder(path, "--workspace");
  } catch (error) {
    expect(error).toBeInstanceOf(FolderError);
    const message = (error as Error).message;
    expect(message.split("\n")).toHaveLength(1);
    return message;
  }
  throw new Error(`makeFolder(${path}) succeeded`);
}

describe("makeFolder", () => {
  it("makes every missing level and returns the resolved path", () => {
    const target = join(dir, "a", "b", "c");
    expect(makeFolder(target, "--out")).toBe(target);
    expect(statSync(target).isDirectory()).toBe(true);
    expect(makeFolder(target, "--out")).toBe(target); // already there: nothing to do
  });

  it("refuses a file in the way, naming the option and the file", () => {
    const file = join(dir, "plain-file");
    writeFileSync(file, "x");
    expect(folderError(file)).toBe(`--workspace ${file}: not a folder`);
    expect(folderError(join(file, "below"))).toBe(`--workspace ${join(file, "below")}: cannot be made: ${file} is not a folder`);
  });

  it("refuses a symlink loop and a name that is too long", () => {
    const a = join(dir, "loop-a");
    const b = join(dir, "loop-b");
    symlinkSync(b, a);
    symlinkSync(a, b);
    expect(folderError(join(a, "ws"))).toContain(`: cannot be made: ${a}: too many levels of symbolic links`);
    const long = join(dir, "n".repeat(300), "ws");
    expect(folderError(long)).toContain("the name is too long (ENAMETOOLONG)");
  });

  it("refuses a folder under /proc at once", () => {
    expect(folderError("/proc/robustseg-nope/ws")).toBe(
      "--workspace /proc/robustseg-nope/ws: cannot be made: the file system of /proc takes no new folders",
    );
  });
});

describe("spawnWorker with a workspace under /proc", () => {
  // In a child process: Node's recursive mkdir spun there for ever, deaf to SIGTERM.
  it("fails with one line naming --workspace", () => {
    const script = join(dir, "spawn-under-proc.mts");
    writeFileSync(
      script,
      `import { spawnWorker } from ${JSON.stringify(join(import.meta.dirname, "..", "worker", "supervisor.ts"))};\n` +
        'spawnWorker({ workspace: "/proc/robustseg-nope", python: "/bin/false" }).then(\n' +
        '  () => console.log("started"), (e) => console.log(`${e.name}: ${e.message}`));\n',
    );
    const child = spawnSync(join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsx"), [script], {
      encoding: "utf8",
      timeout: 60_000,
      killSignal: "SIGKILL",
    });
    expect(child.signal).toBeNull();
    expect(child.stdout.trim()).toBe(
      "WorkerStartError: --workspace /proc/robustseg-nope: cannot be made: the file system of /proc takes no new folders",
    );
  });
});

describe("describeFileError", () => {
  it("puts each code's reason in words after the path, on one line", () => {
    const error = (code: string, path?: string) => Object.assign(new Error(`${code}: raw text\n    at stack`), { code, path });
    expect(describeFileError(error("ENOSPC", "/w/results.json"))).toBe("/w/results.json: no space left on the device (ENOSPC)");
    expect(describeFileError(error("ENAMETOOLONG", "/w/x"))).toBe("/w/x: the name is too long (ENAMETOOLONG)");
    expect(describeFileError(error("ELOOP", "/w/l"))).toBe("/w/l: too many levels of symbolic links (a symlink loop?) (ELOOP)");
    expect(describeFileError(error("ENOENT", "/w/m"))).toBe("/w/m: no such file or folder (ENOENT)");
    expect(describeFileError(error("ENOSPC"), "/given")).toBe("/given: no space left on the device (ENOSPC)");
    mkdirSync(join(dir, "exists"));
    expect(describeFileError(error("EXYZ", "/w/q"))).toBe("/w/q: EXYZ: raw text");
  });
});
