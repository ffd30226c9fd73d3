// Making a folder and its missing parents one level at a time, and file-system errors in words.
// Node 20's mkdir({recursive: true}) loops for ever (at full CPU, deaf to signals) where mkdir
// answers ENOENT under an existing parent, as under /proc; walking up to the first existing
// ancestor and making each level with a plain mkdir turns that into an error naming the path.
import { randomBytes } from "node:crypto";
import { closeSync, lstatSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** One line: `<option> <path>: <why>`. */
export class FolderError extends Error {
  override readonly name = "FolderError";
}

const WORDS: Record<string, string> = {
  ENOENT: "no such file or folder",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "a folder, not a file",
  EEXIST: "already exists",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "on a read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is used up",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many levels of symbolic links (a symlink loop?)",
  EMFILE: "too many open files",
  EIO: "input/output error",
};

/** A Node file-system error's errno code, when it is one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code) ? code : undefined;
}

/** `<path>: <why> (<CODE>)` for a Node file-system error: one line, whatever the error said. */
export function describeFileError(error: unknown, path?: string): string {
  const code = errnoCode(error);
  const errorPath = (error as { path?: unknown }).path;
  const where = path ?? (typeof errorPath === "string" ? errorPath : undefined);
  const why = code !== undefined && code in WORDS ? `${WORDS[code]} (${code})` : firstLine(error);
  return where === undefined ? why : `${where}: ${why}`;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? "unknown error";
}

/** "missing" also when the path cannot be looked up because of a level above it (a file, a loop). */
function kindOf(path: string): "folder" | "other" | "missing" {
  try {
    return statSync(path).isDirectory() ? "folder" : "other";
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return "missing";
    if (code === "ELOOP" && !existsAsLink(path)) return "missing";
    throw error;
  }
}

function existsAsLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Make `path` (resolved) and its missing parents; returns the resolved path. Throws FolderError
 * `<option> <path>: <why>` when a parent is a file, a level cannot be made (a read-only file
 * system, /proc, no permission) or the path is not one a folder can have (too long, a loop).
 */
export function makeFolder(path: string, option: string): string {
  const target = resolve(path);
  const fail = (why: string) => new FolderError(`${option} ${target}: ${why}`);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    let kind: ReturnType<typeof kindOf>;
    try {
      kind = kindOf(at);
    } catch (error) {
      throw fail(`cannot be made: ${describeFileError(error, at)}`);
    }
    if (kind === "folder") break;
    if (kind === "other") throw fail(at === target ? "not a folder" : `cannot be made: ${at} is not a folder`);
    missing.push(at);
    const parent = dirname(at);
    if (parent === at) throw fail("cannot be made: no existing folder above it");
    at = parent;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (error) {
      // Another process made it in between: fine when it is a folder.
      if (errnoCode(error) === "EEXIST" && kindOf(level) === "folder") continue;
      // ENOENT under a parent that exists: a file system that takes no new folders (/proc).
      const why = errnoCode(error) === "ENOENT" ? `the file system of ${dirname(level)} takes no new folders` : describeFileError(error, level);
      throw fail(`cannot be made: ${why}`);
    }
  }
  return target;
}

/** An existing folder in which this process cannot make a file (a read-only mount, chattr +i, modes). */
export function isUnwritableFolder(path: string): boolean {
  try {
    if (kindOf(path) !== "folder") return false;
  } catch {
    return false; // not a folder one can reach: whoever uses it names the problem
  }
  const probe = join(path, `.write-check-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    closeSync(openSync(probe, "wx"));
  } catch {
    return true;
  }
  rmSync(probe, { force: true });
  return false;
}
