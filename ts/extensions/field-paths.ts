// Field paths of the contract (as the worker names them in INVALID_ARGUMENT, e.g.
// "models[0].smp.encoder_depth") turned into the field names of spec files and the command line.

/** snake_case → camelCase, keeping [i] indices: "train_folds[1]" → "trainFolds[1]". */
export function camelPath(path: string): string {
  return path.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * A message field path in the spec's words: each dotted part camel-cased, the first part renamed
 * when `renames` has it ("num_train" → "train").
 */
export function specFieldOf(protoPath: string, renames: Readonly<Record<string, string>> = {}): string {
  if (protoPath === "") return "";
  const [first = "", ...rest] = protoPath.split(".");
  const m = /^([a-z0-9_]+)(.*)$/.exec(first);
  const name = m?.[1] ?? first;
  const index = m?.[2] ?? "";
  const head = (renames[name] ?? camelPath(name)) + index;
  return [head, ...rest.map(camelPath)].join(".");
}

/** Splits a worker error detail "FIELD: message" (FIELD has no spaces) into its parts. */
export function splitFieldMessage(details: string): { field: string; message: string } | undefined {
  const m = /^([A-Za-z0-9_.[\]]+): (.*)$/s.exec(details.trim());
  return m ? { field: m[1] as string, message: (m[2] as string).trim() } : undefined;
}
