// Paths checked before any work: a folder to read must be one ("not a folder" for a file, "no such
// folder" only when nothing is there), and a folder to write (--out) must be one or creatable, so
// a file given as --out is refused up front rather than as a raw EEXIST after hours of work.
import { accessSync, constants } from "node:fs";
import { dirname, resolve } from "node:path";
import { describeKind, pathKind } from "./output-target.js";

function kindOf(path: string): "folder" | "file" | "other" | undefined {
  const kind = pathKind(path);
  return kind === "missing" ? undefined : kind === "folder" || kind === "file" ? kind : "other";
}

/** Why `path` cannot be read as a folder, or undefined when it can. */
export function inputFolderProblem(path: string): string | undefined {
  const kind = kindOf(path);
  if (kind === undefined) return `no such folder: ${path}`;
  return kind === "folder" ? undefined : `not a folder (a ${kind === "file" ? "file" : "special file"}): ${path}`;
}

/** Why `path` cannot be written as a folder (existing, or made with its parents), or undefined. */
export function outputFolderProblem(path: string): string | undefined {
  let at = resolve(path);
  for (;;) {
    const kind = kindOf(at);
    if (kind === "folder") {
      try {
        accessSync(at, constants.W_OK | constants.X_OK);
      } catch {
        return `${at}: not writable`;
      }
      return undefined;
    }
    if (kind === "other") {
      // A device, FIFO or socket is never a place for outputs (ts/files/output-target.ts).
      const what = describeKind(pathKind(at));
      return at === resolve(path) ? `${path} is ${what}, not a folder` : `cannot be made: ${at} is ${what}`;
    }
    if (kind !== undefined) return at === resolve(path) ? `not a folder (a file): ${path}` : `cannot be made: ${at} is a file`;
    const parent = dirname(at);
    if (parent === at) return `cannot be made: ${path}`;
    at = parent;
  }
}
