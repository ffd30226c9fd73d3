// Progress bars with ETA on stderr (cli-progress), one per stage; nothing at all when stderr is
// not a terminal or with --json / --quiet, so stdout carries only the result. Stages that run at
// once (an experiment's lanes) share one multi-bar display: a bar each while running, a line each
// once done.
import cliProgress from "cli-progress";
import type { ProgressUpdate, Reporter } from "../ops/reporter.js";
import { seconds } from "./format.js";

const DISPLAY = { hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 5 };

const barOptions = (known: boolean) => ({
  format: known ? "{stage} [{bar}] {percentage}% {value}/{total} | ETA {eta_formatted} | {message}" : "{stage} | {duration_formatted} | {message}",
});

/** What a bar shows for an update: a total of 1 and no value while the total is unknown. */
function barState(update: ProgressUpdate) {
  const known = update.total > 0;
  return { known, total: known ? update.total : 1, value: known ? Math.min(update.done, update.total) : 0, payload: { stage: update.stage, message: update.message ?? "" } };
}

export function progressReporter(stream: NodeJS.WriteStream | undefined): Reporter & { stopAll(): void } {
  if (stream === undefined) return { progress() {}, endStage() {}, stopAll() {} };
  let bar: cliProgress.SingleBar | undefined;
  let stage: string | undefined;
  let barKnown = false;
  let multi: cliProgress.MultiBar | undefined;
  let laneBars = 0;

  const stop = () => {
    bar?.stop();
    bar = undefined;
    stage = undefined;
  };

  const lane = (label: string): Reporter => {
    let laneBar: cliProgress.SingleBar | undefined;
    let laneKnown = false;
    let last: ProgressUpdate | undefined;
    const started = performance.now();
    const remove = () => {
      if (laneBar && multi) {
        multi.remove(laneBar);
        laneBars--;
      }
      laneBar = undefined;
    };
    return {
      progress(update: ProgressUpdate) {
        const s = barState(update);
        last = update;
        multi ??= new cliProgress.MultiBar({ stream, ...DISPLAY }, cliProgress.Presets.shades_classic);
        if (laneBar === undefined || (s.known && !laneKnown)) {
          remove();
          laneKnown = s.known;
          laneBar = multi.create(s.total, s.value, s.payload, barOptions(s.known));
          laneBars++;
          return;
        }
        if (laneBar.getTotal() !== s.total) laneBar.setTotal(s.total);
        laneBar.update(s.value, s.payload);
      },
      endStage() {
        if (!multi || !laneBar) return;
        const done = last && last.total > 0 ? ` ${Math.min(last.done, last.total)}/${last.total}` : "";
        multi.log(`${label} | done${done} in ${seconds((performance.now() - started) / 1000)}${last?.message ? ` | ${last.message}` : ""}\n`);
        remove();
        if (laneBars === 0) {
          multi.stop();
          multi = undefined;
        }
      },
    };
  };

  return {
    progress(update: ProgressUpdate) {
      const s = barState(update);
      // A new stage, or a stage whose total became known (its bar gains a percentage and ETA).
      if (bar === undefined || stage !== update.stage || (s.known && !barKnown)) {
        stop();
        barKnown = s.known;
        bar = new cliProgress.SingleBar({ stream, ...DISPLAY, ...barOptions(s.known) }, cliProgress.Presets.shades_classic);
        stage = update.stage;
        bar.start(s.total, s.value, s.payload);
        return;
      }
      if (bar.getTotal() !== s.total) bar.setTotal(s.total);
      bar.update(s.value, s.payload);
    },
    endStage: stop,
    lane,
    stopAll: () => {
      stop();
      multi?.stop();
      multi = undefined;
    },
  };
}
