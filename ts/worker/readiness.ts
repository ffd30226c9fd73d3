// The worker's one stdout line when it is ready: {"ready": true, "address": "127.0.0.1:PORT", "pid": N}.
import { z } from "zod";

const readinessLine = z.object({
  ready: z.literal(true),
  address: z.string().regex(/^.+:\d+$/, "must be HOST:PORT"),
  pid: z.number().int().positive(),
});

export type Readiness = z.infer<typeof readinessLine>;

/** Parses the readiness line; returns an explanation instead when it is not one. */
export function parseReadinessLine(line: string): { ok: true; value: Readiness } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, problem: `not JSON: ${JSON.stringify(line.slice(0, 200))}` };
  }
  const parsed = readinessLine.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: `${issue?.path.join(".") || "line"}: ${issue?.message ?? "invalid"} in ${line.slice(0, 200)}` };
  }
  return { ok: true, value: parsed.data };
}
