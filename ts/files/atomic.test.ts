// Atomic writes and the chaos suite's fail point in them: a process killed between the written
// temporary file and the rename leaves the old file whole (a resumed run reads old or new, never half).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scratchDir } from "../../test/fixtures/scripts.js";
import { removeStaleTemporaries, temporaryPathFor, temporaryWriter, writeJsonAtomic } from "./atomic.js";

const dir = scratchDir("robustseg-atomic-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeJsonAtomic", () => {
  it("replaces the file whole", async () => {
    const file = join(dir, "a.json");
    await writeJsonAtomic(file, { n: 1 });
    await writeJsonAtomic(file, { n: 2 }, "results.write");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ n: 2 });
  });

  it("killed at its fail point, leaves the previous file as it was", () => {
    const file = join(dir, "results.json");
    writeFileSync(file, '{"n": 1}\n');
    const module = join(import.meta.dirname, "atomic.ts");
    const code = `const { writeJsonAtomic } = await import(${JSON.stringify(module)}); await writeJsonAtomic(${JSON.stringify(file)}, { n: 2 }, "results.write");`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      env: { ...process.env, ROBUSTSEG_FAILPOINTS: "results.write@1" },
      encoding: "utf8",
    });
    expect(child.signal).toBe("SIGKILL");
    expect(readFileSync(file, "utf8")).toBe('{"n": 1}\n');
    // Its temporary is an orphan; the next run removes it, and keeps those of live writers.
    const orphan = join(dir, `.results.json.tmp-robustseg-${child.pid}-`);
    const left = readdirSync(dir).filter((n) => join(dir, n).startsWith(orphan));
    expect(left).toHaveLength(1);
    mkdirSync(join(dir, "figures"), { recursive: true });
    const live = temporaryPathFor(join(dir, "figures", "a.png"));
    writeFileSync(live, "x");
    return removeStaleTemporaries(dir).then((removed) => {
      expect(removed).toEqual([join(dir, left[0] as string)]);
      expect(existsSync(live)).toBe(true);
    });
  });

  it("leaves a user's files that only look like temporaries, whoever's pid they name", async () => {
    const folder = join(dir, "lookalikes");
    mkdirSync(folder, { recursive: true });
    // A process that is gone: the pid a stale temporary would carry.
    const gone = spawnSync(process.execPath, ["-e", ""]).pid as number;
    const ours = temporaryPathFor(join(folder, "results.json")).replace(`-${process.pid}-`, `-${gone}-`);
    const lookalikes = [
      `.results.json.tmp-${gone}-deadbeef`,
      ".results.json.tmp-1-deadbeef",
      // The current name's shape, with a tag that does not match.
      `.results.json.tmp-robustseg-${gone}-0123abcd-deadbeef`,
    ];
    for (const name of lookalikes) writeFileSync(join(folder, name), "the user's");
    expect(lookalikes.map(temporaryWriter)).toEqual([undefined, undefined, undefined]);
    await expect(removeStaleTemporaries(folder)).resolves.toEqual([]);
    for (const name of lookalikes) expect(readFileSync(join(folder, name), "utf8")).toBe("the user's");
    // One of ours with its pid edited to a dead one is not ours either: the tag covers the pid.
    expect(temporaryWriter(ours.split("/").at(-1) as string)).toBeUndefined();
  });
});
