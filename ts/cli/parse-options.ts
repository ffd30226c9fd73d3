// Validating a command's options with its zod schema before anything runs; the first problem
// becomes a UsageError naming the option as typed ("--epochs: must be a positive integer, got -1").
import { type Command, Option } from "commander";
import type { z } from "zod";
import { UsageError } from "./errors.js";

export function parseOptions<S extends z.ZodType>(schema: S, values: unknown, command: Command): z.output<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = issue?.path[0];
  const message = issue?.message ?? "invalid";
  if (key === undefined) throw new UsageError(message);
  throw new UsageError(`${flagOf(command, String(key))}: ${message}`);
}

/**
 * The long flag of the option stored under `key`, searching the command and its parents; for a
 * positional argument (its name camel-cased), the argument as usage shows it ("<dataset-id>").
 */
export function flagOf(command: Command, key: string): string {
  for (let c: Command | null = command; c; c = c.parent) {
    const option = c.options.find((o) => o.attributeName() === key);
    if (option) return option.long ?? option.flags;
  }
  const argument = command.registeredArguments.find((a) => a.name().replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()) === key);
  if (argument) return argument.required ? `<${argument.name()}>` : `[${argument.name()}]`;
  return `--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
}

/** A commander Option whose default may be any value (shown as `(default: 64)` in --help). */
export function option(flags: string, description: string, defaultValue?: unknown): Option {
  const o = new Option(flags, description);
  return defaultValue === undefined ? o : o.default(defaultValue);
}
