// zod schemas for command-line option values: the generic ones (integers, numbers, choices) live
// with the extension modules that declare options too; these two are the commands' own.
import { z } from "zod";
import { parseWorkerAddress } from "../client/channel.js";
import { show } from "../extensions/option-values.js";

export { choice, integer, nonNegativeInteger, positiveInteger, positiveNumber } from "../extensions/option-values.js";

/** An artifact id (dataset, model): a non-empty word. */
export function artifactId(what: string) {
  return z.string({ error: `required (a ${what} id)` }).transform((value, ctx) => {
    const id = value.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(id)) {
      ctx.addIssue({ code: "custom", message: `must be a ${what} id, got ${show(value)}` });
      return z.NEVER;
    }
    return id;
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
