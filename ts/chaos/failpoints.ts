// Fail points for the chaos suite (docs/reliability.md): named places where the CLI kills itself
// with SIGKILL when ROBUSTSEG_FAILPOINTS names them ("report.write@1,cache.write@3": die at the
// Nth hit), to test what a crash at exactly that moment leaves in a run folder. With
// ROBUSTSEG_FAILPOINT_ONCE=DIR each point fires once over all processes: the first to get there
// creates DIR/<name>@<N>.once and only it dies. Off, and free, unless set; the worker reads the
// same variables (robustseg_worker/failpoints.py).
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";

function parse(text: string): Map<string, number> {
  const points = new Map<string, number>();
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name = "", count = ""] = item.split("@");
    const n = Number(count);
    points.set(name, Number.isInteger(n) && n > 0 ? n : 1);
  }
  return points;
}

const points = parse(process.env.ROBUSTSEG_FAILPOINTS ?? "");
const hits = new Map<string, number>();

function claim(name: string, n: number): boolean {
  const dir = process.env.ROBUSTSEG_FAILPOINT_ONCE;
  if (!dir) return true;
  try {
    closeSync(openSync(join(dir, `${name}@${n}.once`), "wx"));
    return true;
  } catch {
    return false;
  }
}

/** Dies here if the environment names this point and this is its Nth hit. */
export function failpoint(name: string): void {
  if (points.size === 0) return;
  const wanted = points.get(name);
  if (wanted === undefined) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === wanted && claim(name, n)) process.kill(process.pid, "SIGKILL");
}
