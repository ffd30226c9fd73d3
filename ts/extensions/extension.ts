// The common shape of an extension module: one model backend (ts/backends/), one data source
// (ts/data-sources/) or one attack (ts/attacks/) is ONE module holding its spec schema (zod), its
// command-line options, its conversion to the contract message and its one-line description.
// Registries collect the modules; the spec's unions, the CLI's options and help, and the
// operations are built from the registries (docs/ARCHITECTURE.md section 8).
//
// The control plane checks structure and types only; ranges and meaning are checked once, in
// the worker, which names the offending field (for a whole experiment: ValidatePlan).
import type { z } from "zod";

/**
 * One command-line option of an extension. The key it is stored under is commander's attribute
 * name of the long flag ("--base-width <n>" → baseWidth).
 */
export interface CliOptionSpec<T = unknown> {
  /** commander flags, e.g. "--depth <n>". */
  flags: string;
  description: string;
  /** Parses the raw value (the typed string, or the default); its message names what was expected. */
  value: z.ZodType<T>;
  /** Shown in --help and used when the option is not given. */
  default?: string | number | boolean | undefined;
  /** The option may be given several times (values collected into a list). */
  repeatable?: boolean | undefined;
}

export type CliOptionSpecs = Record<string, CliOptionSpec>;

/** The parsed values of an extension's options: undefined when neither given nor defaulted. */
export type CliValues<S extends CliOptionSpecs> = { [K in keyof S]: S[K] extends CliOptionSpec<infer T> ? T | undefined : never };

/** What every extension module has. */
export interface Extension<Name extends string = string> {
  /** As written in a spec and on the command line, e.g. "smp", "folder", "pgd". */
  readonly name: Name;
  /** One line, for tables and --help. */
  readonly description: string;
  readonly cliOptions: CliOptionSpecs;
}

/**
 * A module's options that do not fit together (e.g. --path with --train-path); `key` is the
 * option's key, so the CLI can name the flag as typed.
 */
export class ExtensionOptionError extends Error {
  override readonly name = "ExtensionOptionError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** Identity with the option specs' types kept (so `fromCli` sees typed values). */
export function cliOptions<const S extends CliOptionSpecs>(specs: S): S {
  return specs;
}

/** Checks a module against the common shape while keeping its own (wider) type. */
export function defineExtension<const T extends Extension>(module: T): T {
  return module;
}
