// Progress bars with ETA on stderr (cli-progress), one per stage; nothing at all when stderr is
// not a terminal or with --json / --quiet, so stdout carries only the result.
import cliProgress from "cli-progress";
import type { ProgressUpdate, Reporter } from "../ops/reporter.js";

export function progressReporter(stream: NodeJS.WriteStream | undefined): Reporter & { stopAll(): void } {
  if (stream === undefined) return { progress() {}, endStage() {}, stopAll() {} };
  let bar: cliProgress.SingleBar | undefined;
  let stage: string | undefined;
  let barKnown = false;

  const stop = () => {
    bar?.stop();
    bar = undefined;
    stage = undefined;
  };

  return {
    progress(update: ProgressUpdate) {
      const known = update.total > 0;
      const total = known ? update.total : 1;
      const value = known ? Math.min(update.done, update.total) : 0;
      const payload = { stage: update.stage, message: update.message ?? "" };
      // A new stage, or a stage whose total became known (its bar gains a percentage and ETA).
      if (bar === undefined || stage !== update.stage || (known && !barKnown)) {
        stop();
        barKnown = known;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: known
              ? "{stage} [{bar}] {percentage}% {value}/{total} | ETA {eta_formatted} | {message}"
              : "{stage} | {duration_formatted} | {message}",
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        stage = update.stage;
        bar.start(total, value, payload);
        return;
      }
      if (bar.getTotal() !== total) bar.setTotal(total);
      bar.update(value, payload);
    },
    endStage: stop,
    stopAll: stop,
  };
}
