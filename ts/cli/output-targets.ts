// The output policy (ts/files/output-target.ts) as command-line checks: each runs before a worker
// starts and turns a refusal into a UsageError naming the option.
import { checkOutputApartFromInputs, checkOutputKind, type InputPath, OutputTargetError, type OutputShape } from "../files/output-target.js";
import { UsageError } from "./errors.js";

function asUsage(check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof OutputTargetError) throw new UsageError(error.message);
    throw error;
  }
}

/** `--out` (or `option`) must be a regular file, a folder or nothing yet, as `shape` says. */
export function checkOutputOption(path: string, shape: OutputShape, option = "--out"): void {
  asUsage(() => checkOutputKind(option, path, shape));
}

/** predict/probe: the --out folder must not be --input, lie inside it, nor be the folder an --input file is in. */
export function outputApartFromInputs(out: string, input: string): void {
  asUsage(() => checkOutputApartFromInputs({ option: "--out", path: out, shape: "folder" }, [{ option: "--input", path: input }]));
}

/** Any command: `output` must stay clear of `inputs`. */
export function checkOutputApart(output: { option: string; path: string; shape: OutputShape }, inputs: readonly InputPath[]): void {
  asUsage(() => checkOutputApartFromInputs(output, inputs));
}
