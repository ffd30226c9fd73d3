// Where a command may write (docs/reliability.md, "Data safety"): an output is a regular file or a
// folder, never a device, FIFO, socket or a link to one (or to nowhere), checked before any work
// and again right before each rename (a rename replaces whatever is at the target, /dev/full
// included); and an output never equals an input, lies inside an input folder or is the folder of
// an input file, so writing it cannot overwrite what is read.
import { lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/** What is at a path, symbolic links followed ("broken link": one that leads nowhere, or in a loop). */
export type PathKind = "file" | "folder" | "character device" | "block device" | "FIFO" | "socket" | "broken link" | "missing";

/** An output the policy refuses; the message is one line naming the option (or the file). */
export class OutputTargetError extends Error {
  override readonly name = "OutputTargetError";
}

function kindOfStats(st: Stats): PathKind {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "folder";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  if (st.isFIFO()) return "FIFO";
  return "socket";
}

export function pathKind(path: string): PathKind {
  try {
    return kindOfStats(statSync(path));
  } catch {
    // Nothing to follow: a link that leads nowhere is still there (a rename would replace it).
    try {
      return lstatSync(path).isSymbolicLink() ? "broken link" : "missing";
    } catch {
      return "missing";
    }
  }
}

/** "a character device", "a FIFO", "a file". */
export function describeKind(kind: PathKind): string {
  if (kind === "broken link") return "a symbolic link that leads nowhere (dangling, or in a loop)";
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}`;
}

/** What an output may be: a file to write, a folder to write into, or either (export's --out). */
export type OutputShape = "file" | "folder" | "file or folder";

/**
 * Why `path` cannot be written as `shape`, or undefined: something other than a regular file or
 * folder is there (through a symbolic link too), or a file where a folder belongs and back.
 */
export function outputKindProblem(path: string, shape: OutputShape): string | undefined {
  const kind = pathKind(path);
  if (kind === "missing") return undefined;
  const allowed: PathKind[] = shape === "file" ? ["file"] : shape === "folder" ? ["folder"] : ["file", "folder"];
  if (allowed.includes(kind)) return undefined;
  return `${path} is ${describeKind(kind)}, not ${shape === "file or folder" ? "a file or folder" : `a ${shape}`}`;
}

/** Throws `option: problem` when `path` is no place for an output of this shape. */
export function checkOutputKind(option: string, path: string, shape: OutputShape): void {
  const problem = outputKindProblem(path, shape);
  if (problem) throw new OutputTargetError(`${option}: ${problem}`);
}

/**
 * Right before a rename onto `file`: only nothing or a regular file may be there (a device, FIFO,
 * socket or folder may have appeared since the command's first check). `label` names the file in
 * the error (the option, or the file itself).
 */
export function checkReplaceable(file: string, label?: string): void {
  // A link to a regular file is fine (the rename replaces the link); one to a device is not.
  const kind = pathKind(file);
  if (kind === "file" || kind === "missing") return;
  throw new OutputTargetError(`${label ? `${label}: ` : ""}${file} is ${describeKind(kind)}, not a file; refusing to replace it`);
}

/** The real path of `path`, resolving symbolic links in its existing part (the rest kept as given). */
export function realPathOf(path: string): string {
  const absolute = resolve(path);
  let existing = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest);
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return absolute;
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

/** Whether `inner` is `outer` or lies under it (both real paths). */
export function isWithin(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === "" || (r !== ".." && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** An input an output must stay clear of: a file, or a folder (all of it, subfolders included). */
export interface InputPath {
  /** The option (or what it is: "the workspace") named in the error. */
  option: string;
  path: string;
}

/**
 * Refuses an output that would overwrite an input: an output equal to an input; anything inside
 * an input folder (the user's data: a subfolder may be read too, as a folder data source reads
 * images/ and masks/); an output folder that holds an input file (outputs are named after the
 * inputs, so a.png's mask would replace a.png). An output folder that holds an input folder is
 * fine: nothing is written into the input folder.
 */
export function checkOutputApartFromInputs(output: { option: string; path: string; shape: OutputShape }, inputs: readonly InputPath[]): void {
  const out = realPathOf(output.path);
  for (const input of inputs) {
    const kind = pathKind(input.path);
    if (kind === "missing") continue;
    const real = realPathOf(input.path);
    if (out === real) throw new OutputTargetError(`${output.option}: ${output.path} is ${input.option} itself; the outputs would overwrite the inputs`);
    if (kind === "folder" && isWithin(out, real)) {
      throw new OutputTargetError(`${output.option}: ${output.path} is inside ${input.option} ${input.path}; choose a path outside it`);
    }
    if (kind === "file" && output.shape !== "file" && dirname(real) === out) {
      throw new OutputTargetError(`${output.option}: ${output.path} holds ${input.option} ${input.path}; its outputs would be written beside it under its name`);
    }
  }
}
