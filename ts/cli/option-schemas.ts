// zod schemas for command-line option values: the generic ones (integers, numbers, choices) live
// with the extension modules that declare options too; these are the commands' own.
import { z } from "zod";
import { parseWorkerAddress } from "../client/channel.js";
import { outputFolderProblem } from "../files/paths.js";
import { show } from "../extensions/option-values.js";

export { choice, integer, nonNegativeInteger, positiveInteger, positiveNumber } from "../extensions/option-values.js";

const ID_PATTERNS = { dataset: /^ds-[0-9a-f]{16}$/, model: /^m-[0-9a-f]{16}$/ } as const;
/** What a serving alias may be (robustseg_worker/model_names.py). */
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * An artifact id of one kind, checked before any worker starts: a dataset id where a model id
 * belongs (or the other way round) is named as such, and anything that is no id of that kind is
 * refused with what one looks like. `aliases`: a model may also be named by a serving alias.
 */
export function artifactId(what: "dataset" | "model", options: { aliases?: boolean } = {}) {
  return z.string({ error: `required (a ${what} id)` }).transform((value, ctx) => {
    const id = value.trim();
    const other = what === "model" ? "dataset" : "model";
    let problem: string | undefined;
    if (ID_PATTERNS[what].test(id)) return id;
    if (ID_PATTERNS[other].test(id)) problem = `${id} is a ${other} id; give a ${what} id (${what === "model" ? "m-" : "ds-"}…)`;
    else if (options.aliases && ALIAS.test(id) && !/^(m|ds)-/.test(id)) return id;
    else problem = `must be a ${what} id (${what === "model" ? "m-" : "ds-"} and 16 hex digits${options.aliases ? ", or an alias" : ""}), got ${show(value)}`;
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  });
}

/** `HOST:PORT`. */
export function hostPort() {
  return z.string().transform((value, ctx) => {
    if (!parseWorkerAddress(value)) {
      ctx.addIssue({ code: "custom", message: `must be HOST:PORT, got ${show(value)}` });
      return z.NEVER;
    }
    return value.trim();
  });
}

/** A folder the command writes (--out): an existing folder or one that can be made; checked before any work. */
export function outputFolder() {
  return z
    .string()
    .trim()
    .min(1, "must not be empty")
    .superRefine((value, ctx) => {
      const problem = outputFolderProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });
}
