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

type BarState = ReturnType<typeof barState>;
interface Shown {
  bar: cliProgress.SingleBar;
  known: boolean;
}

/**
 * One bar following a stage's updates: `shown` moved on in place, or, when there is none yet,
 * `fresh` asks for one, or the total became known (the bar gains a percentage and an ETA), the
 * old one closed and a new one opened.
 */
function follow(shown: Shown | undefined, update: ProgressUpdate, fresh: boolean, open: (s: BarState) => cliProgress.SingleBar, close: () => void): Shown {
  const s = barState(update);
  if (shown && !fresh && !(s.known && !shown.known)) {
    if (shown.bar.getTotal() !== s.total) shown.bar.setTotal(s.total);
    shown.bar.update(s.value, s.payload);
    return shown;
  }
  close();
  return { bar: open(s), known: s.known };
}

export function progressReporter(stream: NodeJS.WriteStream | undefined): Reporter & { stopAll(): void } {
  if (stream === undefined) return { progress() {}, endStage() {}, stopAll() {} };
  let shown: Shown | undefined;
  let stage: string | undefined;
  let multi: cliProgress.MultiBar | undefined;
  let laneBars = 0;

  const stop = () => {
    shown?.bar.stop();
    shown = undefined;
    stage = undefined;
  };

  const lane = (label: string): Reporter => {
    let laneShown: Shown | undefined;
    let last: ProgressUpdate | undefined;
    const started = performance.now();
    const remove = () => {
      if (laneShown && multi) {
        multi.remove(laneShown.bar);
        laneBars--;
      }
      laneShown = undefined;
    };
    return {
      progress(update: ProgressUpdate) {
        last = update;
        const bars = (multi ??= new cliProgress.MultiBar({ stream, ...DISPLAY }, cliProgress.Presets.shades_classic));
        laneShown = follow(laneShown, update, false, (s) => (laneBars++, bars.create(s.total, s.value, s.payload, barOptions(s.known))), remove);
      },
      endStage() {
        if (!multi || !laneShown) return;
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
      // A new stage starts a new bar.
      shown = follow(shown, update, stage !== update.stage, (s) => {
        const bar = new cliProgress.SingleBar({ stream, ...DISPLAY, ...barOptions(s.known) }, cliProgress.Presets.shades_classic);
        bar.start(s.total, s.value, s.payload);
        return bar;
      }, stop);
      stage = update.stage;
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
