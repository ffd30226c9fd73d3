// Command-line options built from extension modules (backends, data sources, attacks): every
// module lists its options; a command offers the union of them, merged by flag, and after the
// user picks one module (--backend, --source, --method) reads that module's values. An option
// given on the command line that the chosen module does not take is a usage error naming it.
import { type Command, Option } from "commander";
import { type CliOptionSpec, type CliOptionSpecs, type CliValues, type Extension, ExtensionOptionError } from "../extensions/extension.js";
import { UsageError } from "./errors.js";

interface MergedOption {
  key: string;
  specs: { extension: string; spec: CliOptionSpec }[];
}

function mergeOptions(extensions: readonly Extension[], omit: readonly string[]): MergedOption[] {
  const merged = new Map<string, MergedOption>();
  for (const e of extensions) {
    for (const [key, spec] of Object.entries(e.cliOptions)) {
      if (omit.includes(key)) continue;
      const m = merged.get(key) ?? { key, specs: [] };
      const other = m.specs[0]?.spec;
      if (other && other.flags !== spec.flags) throw new Error(`internal: option ${key} has flags ${other.flags} and ${spec.flags}`);
      m.specs.push({ extension: e.name, spec });
      merged.set(key, m);
    }
  }
  return [...merged.values()];
}

const same = <T>(values: readonly T[]): boolean => values.every((v) => v === values[0]);

/** The option as --help shows it: one description (or one per group of modules), the modules that take it. */
function commanderOption(m: MergedOption, extensions: readonly Extension[]): Option {
  const first = m.specs[0]?.spec as CliOptionSpec;
  const groups = new Map<string, string[]>();
  for (const s of m.specs) groups.set(s.spec.description, [...(groups.get(s.spec.description) ?? []), s.extension]);
  const defaults = m.specs.map((s) => s.spec.default);
  let description: string;
  if (groups.size === 1) {
    const names = [...groups.values()][0] ?? [];
    description = `${[...groups.keys()][0] ?? ""}${names.length < extensions.length ? ` [${names.join(", ")}]` : ""}`;
  } else {
    description = [...groups.entries()].map(([d, names]) => `${names.join(", ")}: ${d}`).join("; ");
  }
  if (!same(defaults)) {
    const shown = m.specs.filter((s) => s.spec.default !== undefined).map((s) => `${s.extension} ${s.spec.default}`);
    if (shown.length > 0) description += ` (default: ${shown.join(", ")})`;
  }
  const option = new Option(first.flags, description);
  if (first.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  if (same(defaults) && first.default !== undefined) option.default(first.default);
  return option;
}

/** Adds the union of the modules' options to `command` (leaving out `omit`, options the command sets itself). */
export function addExtensionOptions(command: Command, extensions: readonly Extension[], omit: readonly string[] = []): Command {
  for (const m of mergeOptions(extensions, omit)) command.addOption(commanderOption(m, extensions));
  return command;
}

/**
 * The chosen module's option values, parsed with its own value schemas (defaults applied). An
 * option of another module given on the command line is a UsageError: "--encoder: not an
 * option of --backend unet (it is for smp)".
 */
export function extensionValues<E extends Extension>(
  command: Command,
  chosen: E,
  extensions: readonly Extension[],
  selector: string,
  omit: readonly string[] = [],
): CliValues<E["cliOptions"]> {
  const raw = command.opts<Record<string, unknown>>();
  for (const m of mergeOptions(extensions, omit)) {
    if (m.key in chosen.cliOptions) continue;
    if (command.getOptionValueSource(m.key) === "cli") {
      const flags = (m.specs[0]?.spec.flags ?? m.key).split(/[ ,]/)[0];
      throw new UsageError(`${flags}: not an option of ${selector} ${chosen.name} (it is for ${m.specs.map((s) => s.extension).join(", ")})`);
    }
  }
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(chosen.cliOptions as CliOptionSpecs)) {
    if (omit.includes(key)) continue;
    const value = raw[key] ?? spec.default;
    if (value === undefined) continue;
    const parsed = spec.value.safeParse(value);
    if (!parsed.success) {
      const flag = spec.flags.split(/[ ,]/)[0];
      throw new UsageError(`${flag}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    }
    values[key] = parsed.data;
  }
  return values as CliValues<E["cliOptions"]>;
}

/**
 * The chosen module's parameters from the command's options: its values, then its `fromCli`
 * (whose complaints about options that do not fit together name the flag as typed).
 */
export function extensionFromCli<P>(
  command: Command,
  chosen: Extension & { fromCli(values: never): P },
  extensions: readonly Extension[],
  selector: string,
  omit: readonly string[] = [],
): P {
  const values = extensionValues(command, chosen, extensions, selector, omit);
  try {
    return (chosen.fromCli as (v: typeof values) => P)(values);
  } catch (error) {
    if (error instanceof ExtensionOptionError) {
      const flags = (chosen.cliOptions as CliOptionSpecs)[error.key]?.flags.split(/[ ,]/)[0] ?? `--${error.key}`;
      throw new UsageError(`${flags}: ${error.message}`);
    }
    throw error;
  }
}

/** The flag of a module's option key, as typed ("--train-fold"). */
export function flagOfOption(extension: Extension, key: string): string {
  return (extension.cliOptions as CliOptionSpecs)[key]?.flags.split(/[ ,]/)[0] ?? `--${key}`;
}
