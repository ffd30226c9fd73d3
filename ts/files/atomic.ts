// Files written atomically: a temporary file beside the target, then a rename, so a reader (or a
// resumed run) sees the old file or the new one, never half of one.
//
// A temporary's name proves it is robustseg's: `.<target>.tmp-robustseg-<pid>-<random>-<tag>`,
// where the tag is a hash of the rest of the name. Only names whose tag checks out are ever
// removed, so a user's file that merely looks like a temporary (`.results.json.tmp-1-deadbeef`)
// is left alone.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { failpoint } from "../chaos/failpoints.js";
import { checkReplaceable } from "./output-target.js";

const TEMPORARY = /^\.(.+)\.tmp-robustseg-(\d+)-([0-9a-f]{8})-([0-9a-f]{8})$/;

function tagOf(target: string, pid: string, random: string): string {
  return createHash("sha256").update(`robustseg temporary\0${target}\0${pid}\0${random}`).digest("hex").slice(0, 8);
}

/** A temporary path in the target's folder (rename is atomic only within one file system). */
export function temporaryPathFor(file: string): string {
  const target = basename(file);
  const pid = String(process.pid);
  const random = randomBytes(4).toString("hex");
  return join(dirname(file), `.${target}.tmp-robustseg-${pid}-${random}-${tagOf(target, pid, random)}`);
}

/** The pid of the process that wrote this robustseg temporary, or undefined for any other name. */
export function temporaryWriter(name: string): number | undefined {
  const m = TEMPORARY.exec(name);
  if (!m) return undefined;
  const [, target = "", pid = "", random = "", tag = ""] = m;
  return tagOf(target, pid, random) === tag ? Number(pid) : undefined;
}

/**
 * `data` written to `file` atomically; the folder is created when missing. `point`: the chaos
 * suite's fail point between the written temporary file and the rename (ts/chaos/failpoints.ts).
 * Refuses to replace anything but a regular file (a device or FIFO put there meanwhile).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, point?: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = temporaryPathFor(file);
  try {
    await writeFile(tmp, data, { flag: "wx" });
    if (point) failpoint(point);
    checkReplaceable(file);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** JSON (indented, newline-terminated) written atomically. */
export async function writeJsonAtomic(file: string, value: unknown, point?: string): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, point);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes, under `dir`, robustseg's temporaries of writes whose process is gone (killed between
 * writing and renaming): a resumed run leaves no orphaned file. Those of live processes stay, and
 * so does every file that is not provably one of ours. Returns the paths removed.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removed.push(...(await removeStaleTemporaries(path)));
    else if (entry.isFile()) {
      const pid = temporaryWriter(entry.name);
      if (pid !== undefined && !alive(pid)) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
  }
  return removed;
}
