// A workspace on read-only storage, through the CLI with a real worker: a command that writes
// fails with one line naming --workspace; `store verify` still works (the CLI opens the worker
// with --read-only). And a workspace that cannot be made (under /proc) fails at once, in one line.
// As root (CI) file modes do not stop writes: a read-only bind mount does, else chattr +i.
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliProcess } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-read-only-");
const workspace = join(dir, "ws");
let undo: (() => void) | undefined;

function succeeds(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function folders(root: string): string[] {
  return [root, ...readdirSync(root, { recursive: true, encoding: "utf8" }).map((p) => join(root, p)).filter((p) => statSync(p).isDirectory())];
}

/** Makes `root` read-only for this process (root included); undefined when this machine allows no way. */
function makeReadOnly(root: string): (() => void) | undefined {
  if (process.getuid?.() !== 0) {
    for (const f of folders(root)) execFileSync("chmod", ["a-w", f]);
    return () => folders(root).forEach((f) => execFileSync("chmod", ["u+w", f]));
  }
  if (succeeds("mount", ["--bind", root, root])) {
    if (succeeds("mount", ["-o", "remount,bind,ro", root])) return () => void succeeds("umount", [root]);
    succeeds("umount", [root]);
  }
  const all = folders(root);
  if (all.every((f) => succeeds("chattr", ["+i", f]))) return () => all.forEach((f) => succeeds("chattr", ["-i", f]));
  all.forEach((f) => succeeds("chattr", ["-i", f]));
  return undefined;
}

const robustseg = (args: string[]) => runCliProcess(["--workspace", workspace, ...args], { cwd: dir });

beforeAll(async () => {
  const made = await robustseg(["store", "verify", "--json"]); // a workspace as a worker lays it out
  expect(made.code).toBe(0);
  undo = makeReadOnly(workspace);
});
afterAll(() => {
  undo?.();
  rmSync(dir, { recursive: true, force: true });
});

describe("a read-only workspace", () => {
  it("refuses to start a worker for a command that writes, in one line naming --workspace", async (context) => {
    if (undo === undefined) context.skip();
    const { code, stderr } = await robustseg(["dataset", "create", "--tile-size", "8", "--train", "2", "--validation", "1", "--test", "1"]);
    expect(code).toBe(1);
    const lines = stderr.split("\n").filter((l) => l.startsWith("error:"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`--workspace ${workspace}: not writable (`);
    expect(stderr).not.toContain("Traceback");
  });

  it("is verified by store verify", async (context) => {
    if (undo === undefined) context.skip();
    const { code, stdout, stderr } = await robustseg(["store", "verify", "--json", "--progress", "none"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ checked: 0, corrupt: 0 });
  });
});

describe("a workspace that cannot be made", () => {
  it("fails at once with one line naming --workspace", async () => {
    const { code, stderr } = await runCliProcess(["--workspace", "/proc/robustseg-nope", "--progress", "none", "info"], { cwd: dir, timeoutMs: 60_000 });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe("error: --workspace /proc/robustseg-nope: cannot be made: the file system of /proc takes no new folders");
  });
});
