import { describe, expect, it } from "vitest";
import type { GlobalOptions } from "./global-options.js";
import { plainProgressReporter } from "./progress-lines.js";
import { progressMode } from "./worker-session.js";

function recorder() {
  let t = 0;
  const lines: string[] = [];
  const reporter = plainProgressReporter({ write: (l) => lines.push(l), now: () => t, intervalMs: 5000 });
  return { reporter, lines, advance: (ms: number) => void (t += ms) };
}

describe("plain progress lines", () => {
  it("prints one line when a stage starts, one every interval of long work and one when it ends", () => {
    const { reporter, lines, advance } = recorder();
    reporter.progress({ stage: "[2/9] train M1", done: 0, total: 0, message: "" });
    for (let i = 1; i <= 100; i++) {
      advance(200); // 20 s of work in 100 updates
      reporter.progress({ stage: "[2/9] train M1", done: i, total: 100, message: `epoch ${Math.ceil(i / 25)}/4` });
    }
    reporter.endStage();
    expect(lines[0]).toBe("[2/9] train M1: started\n");
    expect(lines.slice(1, -1)).toEqual([
      "[2/9] train M1: 25/100 (25%), ETA 15.0 s, epoch 1/4, 5.0 s\n",
      "[2/9] train M1: 50/100 (50%), ETA 10.0 s, epoch 2/4, 10.0 s\n",
      "[2/9] train M1: 75/100 (75%), ETA 5.0 s, epoch 3/4, 15.0 s\n",
      "[2/9] train M1: 100/100 (100%), epoch 4/4, 20.0 s\n",
    ]);
    expect(lines.at(-1)).toBe("[2/9] train M1: done, 20.0 s\n");
  });

  it("starts a new line block for each stage and says nothing for an empty end", () => {
    const { reporter, lines } = recorder();
    reporter.endStage();
    reporter.progress({ stage: "a", done: 0, total: 3 });
    reporter.progress({ stage: "b", done: 1, total: 0, message: "reused ds-1" });
    reporter.stopAll();
    expect(lines).toEqual(["a: started\n", "a: done, 0.0 s\n", "b: started, reused ds-1\n", "b: done, 0.0 s\n"]);
  });

  it("keeps stages that run at once apart: each lane its own start, interval and end", () => {
    const { reporter, lines, advance } = recorder();
    const m2 = reporter.lane?.("[5/9] train M2");
    const d2 = reporter.lane?.("[4/9] method two");
    if (!m2 || !d2) throw new Error("plain progress has no lanes");
    d2.progress({ stage: "[4/9] method two", done: 0, total: 10 });
    advance(2000);
    m2.progress({ stage: "[5/9] train M2", done: 0, total: 4 });
    advance(3000);
    d2.progress({ stage: "[4/9] method two", done: 5, total: 10 });
    m2.progress({ stage: "[5/9] train M2", done: 1, total: 4 });
    advance(2000);
    m2.progress({ stage: "[5/9] train M2", done: 3, total: 4 });
    m2.endStage();
    advance(1000);
    d2.progress({ stage: "[4/9] method two", done: 10, total: 10 });
    d2.endStage();
    expect(lines).toEqual([
      "[4/9] method two: started\n",
      "[5/9] train M2: started\n",
      "[4/9] method two: 5/10 (50%), ETA 5.0 s, 5.0 s\n",
      // M2's own interval runs from its own start: 5 s after it, not after method two's.
      "[5/9] train M2: 3/4 (75%), ETA 1.7 s, 5.0 s\n",
      "[5/9] train M2: done, 5.0 s\n",
      "[4/9] method two: done, 8.0 s\n",
    ]);
  });
});

describe("progress mode", () => {
  const globals = (over: Partial<GlobalOptions>): GlobalOptions =>
    ({ workspace: "w", device: "auto", verbose: false, json: false, quiet: false, progress: "auto", progressGiven: false, dataRoot: [], ...over }) as GlobalOptions;
  const tty = { progressStream: process.stderr } as never;
  const pipe = { progressStream: undefined } as never;

  it("bars on a terminal, lines otherwise, nothing when quiet or for --json unless asked", () => {
    expect(progressMode(globals({}), tty, false)).toBe("bar");
    expect(progressMode(globals({}), pipe, false)).toBe("plain");
    expect(progressMode(globals({ progress: "plain" }), tty, true)).toBe("plain");
    expect(progressMode(globals({ progress: "bar" }), pipe, true)).toBe("plain");
    expect(progressMode(globals({ quiet: true }), pipe, false)).toBe("none");
    expect(progressMode(globals({ progress: "none" }), tty, true)).toBe("none");
    expect(progressMode(globals({ json: true }), pipe, false)).toBe("none");
    expect(progressMode(globals({ json: true, progress: "plain" }), pipe, true)).toBe("plain");
  });
});
