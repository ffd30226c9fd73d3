// Printing a command's result: the command computes a plain object; this renders it as JSON
// (--json) or as text tables.
import type { CliIO } from "./context.js";
import type { GlobalOptions } from "./global-options.js";

export type Renderer<T> = (result: T) => string;

export function printResult<T>(io: CliIO, globals: Pick<GlobalOptions, "json">, result: T, render: Renderer<T>): void {
  if (globals.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(`${render(result).trimEnd()}\n`);
}
