// Progress as plain log lines on stderr, for when it is not a terminal (a CI log, `2> file`) or
// with --progress plain: one line when a stage starts, one every few seconds of long work, one
// when it ends. A progress bar would write control characters no log can show.
import type { ProgressUpdate, Reporter } from "../ops/reporter.js";
import { seconds } from "./format.js";

export const PLAIN_PROGRESS_INTERVAL_MS = 5000;

export interface PlainProgressOptions {
  write: (line: string) => void;
  /** Milliseconds; injectable so tests need no real time. */
  now?: () => number;
  intervalMs?: number;
}

function describe(u: ProgressUpdate, elapsedMs: number): string {
  const parts: string[] = [];
  if (u.total > 0) {
    const share = Math.min(u.done, u.total) / u.total;
    parts.push(`${u.done}/${u.total} (${(100 * share).toFixed(0)}%)`);
    if (share > 0 && share < 1 && elapsedMs >= 1000) parts.push(`ETA ${seconds(((1 - share) / share) * (elapsedMs / 1000))}`);
  }
  if (u.message) parts.push(u.message);
  parts.push(`${seconds(elapsedMs / 1000)}`);
  return parts.join(", ");
}

export function plainProgressReporter(options: PlainProgressOptions): Reporter & { stopAll(): void } {
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? PLAIN_PROGRESS_INTERVAL_MS;

  // One stage's lines: its start, every `interval` of work, its end. A new stage ends the last.
  const lines = (): Reporter => {
    let stage: string | undefined;
    let started = 0;
    let lastLine = 0;
    let last: ProgressUpdate | undefined;
    const end = () => {
      if (stage !== undefined && last) options.write(`${stage}: done, ${seconds((now() - started) / 1000)}\n`);
      stage = undefined;
      last = undefined;
    };
    return {
      progress(update: ProgressUpdate) {
        const t = now();
        if (update.stage !== stage) {
          end();
          stage = update.stage;
          started = t;
          lastLine = t;
          last = update;
          options.write(`${update.stage}: started${update.message ? `, ${update.message}` : ""}\n`);
          return;
        }
        last = update;
        if (t - lastLine >= interval) {
          lastLine = t;
          options.write(`${update.stage}: ${describe(update, t - started)}\n`);
        }
      },
      endStage: end,
    };
  };

  const main = lines();
  // Stages that run at once each keep their own start time and interval; their lines interleave,
  // each naming its stage.
  return { progress: main.progress, endStage: main.endStage, stopAll: main.endStage, lane: () => lines() };
}
