// Options built from the extension modules: every module's option keys are the keys commander
// stores them under, the union is merged by flag, and the chosen module reads only its own.
import { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { ATTACKS } from "../attacks/registry.js";
import { MODEL_BACKENDS, type ModelParams } from "../backends/registry.js";
import { DATA_SOURCES, type DatasetSource } from "../data-sources/registry.js";
import type { CliOptionSpecs, Extension } from "../extensions/extension.js";
import { UsageError } from "./errors.js";
import { addExtensionOptions, extensionFromCli } from "./extension-options.js";

const REGISTRIES: [string, readonly Extension[]][] = [
  ["backends", MODEL_BACKENDS],
  ["data sources", DATA_SOURCES],
  ["attacks", ATTACKS],
];

/** A command with the modules' options, parsed from `argv`. */
function parsed(extensions: readonly Extension[], argv: string[]): Command {
  const command = addExtensionOptions(new Command("x").exitOverride(), extensions);
  command.parse(argv, { from: "user" });
  return command;
}

describe.each(REGISTRIES)("%s", (_name, extensions) => {
  it("declare each option under the key commander stores it by, with one flag per key", () => {
    const flags = new Map<string, string>();
    for (const e of extensions) {
      expect(e.description.length).toBeGreaterThan(10);
      expect(e.description).not.toMatch(/\n/);
      for (const [key, spec] of Object.entries(e.cliOptions as CliOptionSpecs)) {
        expect(new Option(spec.flags).attributeName()).toBe(key);
        expect(flags.get(key) ?? spec.flags).toBe(spec.flags);
        flags.set(key, spec.flags);
      }
    }
  });

  it("have distinct names", () => {
    const names = extensions.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("choosing a module on the command line", () => {
  const backend = (name: string) => MODEL_BACKENDS.find((b) => b.name === name) as (typeof MODEL_BACKENDS)[number];

  it("reads the chosen module's values with its defaults", () => {
    const unet = extensionFromCli<ModelParams>(parsed(MODEL_BACKENDS, ["--depth", "2"]), backend("unet"), MODEL_BACKENDS, "--backend");
    expect(unet).toEqual({ backend: "unet", architecture: "unet", depth: 2, baseWidth: 16, upsampling: "bilinear" });
    const monai = extensionFromCli<ModelParams>(parsed(MODEL_BACKENDS, ["--architecture", "UNet", "--channels", "8,16,32", "--strides", "2,2"]), backend("monai"), MODEL_BACKENDS, "--backend");
    expect(monai).toMatchObject({ backend: "monai", architecture: "UNet", channels: [8, 16, 32], strides: [2, 2] });
  });

  it("keeps each module's own default of a shared option: --target is background for PGD, untargeted for APGD", () => {
    const attack = (name: string) => ATTACKS.find((a) => a.name === name) as (typeof ATTACKS)[number];
    const params = (name: string, argv: string[]) => extensionFromCli<unknown>(parsed(ATTACKS, argv), attack(name), ATTACKS, "--method");
    expect(params("pgd", [])).toMatchObject({ target: { class: "background" } });
    expect(params("apgd", [])).toMatchObject({ target: "untargeted" });
    expect(params("apgd", ["--target", "background"])).toMatchObject({ target: { class: "background" } });
  });

  it("refuses an option of another module, naming it and its modules", () => {
    const command = parsed(MODEL_BACKENDS, ["--encoder", "resnet18"]);
    expect(() => extensionFromCli<ModelParams>(command, backend("unet"), MODEL_BACKENDS, "--backend")).toThrow(
      new UsageError("--encoder: not an option of --backend unet (it is for smp)"),
    );
  });

  it("names the flag of a value the module's schema refuses", () => {
    const command = parsed(MODEL_BACKENDS, ["--channels", "8,x"]);
    expect(() => extensionFromCli<ModelParams>(command, backend("monai"), MODEL_BACKENDS, "--backend")).toThrow(
      new UsageError("--channels: must be positive integers separated by commas, got 8,x"),
    );
  });

  it("names the flag of options that do not fit together", () => {
    const folder = DATA_SOURCES.find((s) => s.name === "folder") as (typeof DATA_SOURCES)[number];
    const command = parsed(DATA_SOURCES, ["--path", "a", "--train-path", "b"]);
    expect(() => extensionFromCli<DatasetSource>(command, folder, DATA_SOURCES, "--source")).toThrow(/^--path: give either --path/);
  });

  it("shows one merged option per flag in --help, saying which modules take it", () => {
    const help = addExtensionOptions(new Command("x"), DATA_SOURCES).helpInformation();
    expect(help.match(/^ +--tile-size/gm)).toHaveLength(1);
    const flat = help.replace(/\s+/g, " ");
    expect(flat).toContain("--labeling <labels> classes by shape, colour, shape-and-colour [kandinsky]");
    expect(flat).toMatch(/--path <dir> pannuke: .*; folder: /);
    expect(flat).toContain("--seed <n> synthetic-histology, kandinsky: generator seed; folder: seed of the split (default: 0)");
  });
});
