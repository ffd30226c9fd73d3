// Files written atomically: a temporary file beside the target, then a rename, so a reader (or a
// resumed run) sees the old file or the new one, never half of one.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { failpoint } from "../chaos/failpoints.js";

/** A temporary path in the target's folder (rename is atomic only within one file system). */
export function temporaryPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * `data` written to `file` atomically; the folder is created when missing. `point`: the chaos
 * suite's fail point between the written temporary file and the rename (ts/chaos/failpoints.ts).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, point?: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = temporaryPathFor(file);
  try {
    await writeFile(tmp, data);
    if (point) failpoint(point);
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

const TEMPORARY = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes, under `dir`, the temporaries of writes whose process is gone (killed between writing
 * and renaming): a resumed run leaves no orphaned file. Those of live processes stay. Returns
 * the paths removed.
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
    else {
      const m = TEMPORARY.exec(entry.name);
      if (m && !alive(Number(m[1]))) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
  }
  return removed;
}
