// Attack options of `robustseg attack`, `evaluate --attack` and `sweep`, built from the attack
// modules (ts/attacks/): each attack takes its own options; one it does not take is an error.
import type { Command } from "commander";
import { type AttackModule, type AttackParams, ATTACKS, attackModule } from "../attacks/registry.js";
import type { Extension } from "../extensions/extension.js";
import { addExtensionOptions, extensionFromCli } from "./extension-options.js";
import type { FieldRoute } from "./worker-fields.js";

/** One line per attack, for a command's description. */
export function attackList(attacks: readonly AttackModule[] = ATTACKS): string {
  const width = Math.max(...attacks.map((a) => a.method.length));
  return attacks.map((a) => `  ${a.method.padEnd(width)}  ${a.description}`).join("\n");
}

export function addAttackOptions(command: Command, attacks: readonly Extension[] = ATTACKS, omit: readonly string[] = []): Command {
  return addExtensionOptions(command, attacks, omit);
}

/** The chosen attack's parameters from the command's options (`selector` names the option that chose it). */
export function attackParamsFromCommand(command: Command, method: string, selector: string, attacks: readonly Extension[] = ATTACKS, omit: readonly string[] = []): AttackParams {
  return extensionFromCli<AttackParams>(command, attackModule(method), attacks, selector, omit);
}

/** Where the chosen attack's fields sit in a request (for naming its flags in the worker's errors). */
export function attackFieldRoutes(method: string): FieldRoute[] {
  const module = attackModule(method);
  // One route per member of AttackSpec's `attack` oneof: a field error under any of them is the method's option.
  return ["gradient", "layered_pgd", "apgd"].map((member) => ({ prefix: `attack.${member}`, module }));
}
