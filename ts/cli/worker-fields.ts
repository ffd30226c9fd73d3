// The worker names a field of its request when it refuses one ("attack.gradient.epsilon: must be
// > 0 ...", "model.unet.depth: must be between 1 and 7 (0 = default 4), got 9"). A command
// reports that under its own option as typed (--epsilon, --depth) with its own default, since the
// user never saw the request: "--depth: must be between 1 and 7 (default 3), got 9".
import type { Command } from "commander";
import { WorkerError } from "../client/errors.js";
import type { CliOptionSpecs, Extension } from "../extensions/extension.js";
import { splitFieldMessage } from "../extensions/field-paths.js";
import { UsageError } from "./errors.js";

/** An extension module whose contract fields sit under `prefix` ("attack.gradient", "source.folder"). */
export interface FieldRoute {
  prefix: string;
  module: Extension & { specField(protoField: string): string };
}

export interface FieldFlags {
  /** Worker fields (without [i]) → the command's own flags: { batch_size: "--batch-size" }. */
  exact?: Record<string, string>;
  routes?: readonly FieldRoute[];
}

interface Resolved {
  flag: string;
  defaultValue: unknown;
}

function optionDefault(command: Command | undefined, flag: string): unknown {
  for (let c: Command | null | undefined = command; c; c = c.parent) {
    const o = c.options.find((x) => x.long === flag);
    if (o) return o.defaultValue;
  }
  return undefined;
}

function flagOfKey(options: CliOptionSpecs, key: string): { flag: string; defaultValue: unknown } | undefined {
  // Attack options keep the seed apart from the data's: "seed" is --attack-seed.
  const spec = options[key] ?? options[`attack${key.charAt(0).toUpperCase()}${key.slice(1)}`];
  return spec ? { flag: spec.flags.split(/[ ,]/)[0] as string, defaultValue: spec.default } : undefined;
}

/** The flag (and its default) a worker field stands for, or undefined. */
export function flagOfField(field: string, flags: FieldFlags, command?: Command): Resolved | undefined {
  const bare = field.replace(/\[\d+\]/g, "");
  const exact = flags.exact?.[bare];
  if (exact) return { flag: exact, defaultValue: optionDefault(command, exact) };
  for (const route of flags.routes ?? []) {
    if (bare !== route.prefix && !bare.startsWith(`${route.prefix}.`)) continue;
    const rest = field.slice(route.prefix.length + 1);
    if (rest === "") {
      const all = Object.values(route.module.cliOptions).map((o) => o.flags.split(/[ ,]/)[0]);
      return { flag: `${route.module.name} (${all.join(", ")})`, defaultValue: undefined };
    }
    const key = route.module.specField(rest).replace(/\[\d+\]$/, "").split(".")[0] as string;
    const found = flagOfKey(route.module.cliOptions, key);
    if (found) return found;
  }
  return undefined;
}

/** "(0 = default 4)" is the contract's default; the command's own (or none) replaces it. */
export function withOwnDefault(message: string, defaultValue: unknown): string {
  const own = defaultValue === undefined || defaultValue === false ? "" : ` (default ${String(defaultValue)})`;
  return message.replace(/\s*\(0 = default [^)]*\)/, own);
}

/**
 * A worker's INVALID_ARGUMENT (a usage error: exit code 2) or RESOURCE_EXHAUSTED about a field
 * this command sets, re-worded under the command's flag; anything else unchanged.
 */
export function cliErrorOf(error: unknown, flags: FieldFlags, command?: Command): unknown {
  if (!(error instanceof WorkerError) || (error.codeName !== "INVALID_ARGUMENT" && error.codeName !== "RESOURCE_EXHAUSTED")) return error;
  const parts = splitFieldMessage(error.details);
  if (!parts) return error;
  const resolved = flagOfField(parts.field, flags, command);
  if (!resolved) return error;
  const message = `${resolved.flag}: ${withOwnDefault(parts.message, resolved.defaultValue)}`;
  if (error.codeName === "INVALID_ARGUMENT") return new UsageError(message);
  return new WorkerError(error.code, message, error.rpc, error.metadata, { cause: error });
}
