import { describe, expect, it } from "vitest";
import { progressReporter } from "./progress-bars.js";

/** A terminal that keeps what is written to it, escape codes stripped. */
function terminal() {
  let written = "";
  const stream = {
    isTTY: true,
    columns: 120,
    rows: 40,
    write(chunk: string | Uint8Array) {
      written += String(chunk);
      return true;
    },
    on() {},
    once() {},
    removeListener() {},
  };
  const text = () => written.replace(/\x1B(\[[0-9;?]*[A-Za-z]|[78])/g, "");
  return { stream: stream as unknown as NodeJS.WriteStream, text };
}

describe("progress bars", () => {
  it("draws a bar per stage that runs at once and leaves a line for each finished one", () => {
    const { stream, text } = terminal();
    const reporter = progressReporter(stream);
    const m2 = reporter.lane?.("[5/9] train M2");
    const d2 = reporter.lane?.("[4/9] method two");
    if (!m2 || !d2) throw new Error("progress bars have no lanes");
    d2.progress({ stage: "[4/9] method two", done: 0, total: 10 });
    m2.progress({ stage: "[5/9] train M2", done: 1, total: 4, message: "epoch 1/4" });
    m2.progress({ stage: "[5/9] train M2", done: 4, total: 4, message: "epoch 4/4" });
    m2.endStage();
    d2.progress({ stage: "[4/9] method two", done: 10, total: 10, message: "160 tiles" });
    d2.endStage();
    reporter.stopAll();
    expect(text()).toMatch(/\[5\/9\] train M2 \| done 4\/4 in \d+\.\d s \| epoch 4\/4\n/);
    expect(text()).toMatch(/\[4\/9\] method two \| done 10\/10 in \d+\.\d s \| 160 tiles\n/);
    // Ended in the order they finished.
    expect(text().indexOf("[5/9] train M2 | done")).toBeLessThan(text().indexOf("[4/9] method two | done"));
  });
});
