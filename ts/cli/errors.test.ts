// reportError: a Node file-system error from the CLI's own file handling is one line with the
// path and the reason, never the syscall's wording with a stack.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT_FAILURE, reportError } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "robustseg-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrownBy(read: () => unknown): unknown {
  try {
    read();
  } catch (error) {
    return error;
  }
  throw new Error("no error");
}

describe("reportError for file-system errors", () => {
  it("names the path and the reason of ENOENT, ELOOP and ENAMETOOLONG in one line", () => {
    const missing = join(dir, "missing.json");
    expect(reportError(thrownBy(() => readFileSync(missing)), false)).toEqual({
      text: `${missing}: no such file or folder (ENOENT)`,
      exitCode: EXIT_FAILURE,
    });
    const loop = join(dir, "loop");
    symlinkSync(loop, loop);
    expect(reportError(thrownBy(() => readFileSync(loop)), false).text).toBe(
      `${loop}: too many levels of symbolic links (a symlink loop?) (ELOOP)`,
    );
    const long = join(dir, "x".repeat(300));
    expect(reportError(thrownBy(() => readFileSync(long)), false).text).toBe(`${long}: the name is too long (ENAMETOOLONG)`);
  });

  it("gives ENOSPC in words, with the path when the error has one", () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", syscall: "write" });
    expect(reportError(full, false).text).toBe("no space left on the device (ENOSPC)");
    const named = Object.assign(new Error("ENOSPC: no space left on device, open '/w/x'"), { code: "ENOSPC", path: "/w/x" });
    expect(reportError(named, false).text).toBe("/w/x: no space left on the device (ENOSPC)");
  });
});
