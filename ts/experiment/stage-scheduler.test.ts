import { describe, expect, it } from "vitest";
import { runStagesConcurrently, SharedRestart } from "./stage-scheduler.js";

/** Stages that finish when the test says so, recording what ran when. */
function harness() {
  const events: string[] = [];
  const finishers = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  let running = 0;
  let peak = 0;
  const run = (stage: { id: string }) =>
    new Promise<void>((resolve, reject) => {
      events.push(`start ${stage.id}`);
      peak = Math.max(peak, ++running);
      const settle = () => {
        running--;
        events.push(`end ${stage.id}`);
      };
      finishers.set(stage.id, {
        resolve: () => (settle(), resolve()),
        reject: (e) => (settle(), reject(e)),
      });
    });
  const tick = () => new Promise((r) => setTimeout(r, 0));
  const finish = async (id: string, error?: unknown) => {
    await tick();
    const f = finishers.get(id);
    if (!f) throw new Error(`${id} has not started`);
    if (error === undefined) f.resolve();
    else f.reject(error);
    await tick();
  };
  return { events, run, finish, peak: () => peak };
}

// data → M1 → (D1, D2); M2 needs D1; M3 needs D2; eval-M1 needs M1.
const stages = ["data", "M1", "D1", "D2", "M2", "M3", "eval-M1"].map((id) => ({ id }));
const needs = new Map<string, string[]>([
  ["data", []],
  ["M1", ["data"]],
  ["D1", ["M1"]],
  ["D2", ["M1"]],
  ["M2", ["D1"]],
  ["M3", ["D2"]],
  ["eval-M1", ["M1"]],
]);

describe("running stages at once", () => {
  it("starts every stage whose needs are done, in the plan's order, never more than the concurrency", async () => {
    const h = harness();
    const done = runStagesConcurrently(stages, needs, h.run, { concurrency: 2 });
    await h.finish("data");
    await h.finish("M1");
    await h.finish("D1"); // M2 (ready) goes before eval-M1, both after D2
    await h.finish("D2");
    await h.finish("M2");
    await h.finish("M3");
    await h.finish("eval-M1");
    await done;
    expect(h.events).toEqual([
      "start data",
      "end data",
      "start M1",
      "end M1",
      "start D1",
      "start D2",
      "end D1",
      "start M2",
      "end D2",
      "start M3",
      "end M2",
      "start eval-M1",
      "end M3",
      "end eval-M1",
    ]);
    expect(h.peak()).toBe(2);
  });

  it("one at a time is the plan's order", async () => {
    const h = harness();
    const done = runStagesConcurrently(stages, needs, h.run, { concurrency: 1 });
    for (const s of stages) await h.finish(s.id);
    await done;
    expect(h.events.filter((e) => e.startsWith("start")).map((e) => e.slice(6))).toEqual(stages.map((s) => s.id));
    expect(h.peak()).toBe(1);
  });

  it("after the first failure starts nothing more, lets the stages in flight settle and throws that failure", async () => {
    const h = harness();
    const failures: unknown[] = [];
    const done = runStagesConcurrently(stages, needs, h.run, { concurrency: 3, onFailure: (e) => failures.push(e) });
    const outcome = done.then(
      () => "resolved",
      (e: unknown) => e,
    );
    await h.finish("data");
    await h.finish("M1");
    await h.finish("D2", new Error("D2 failed"));
    await h.finish("D1", new Error("cancelled after D2's failure"));
    await h.finish("eval-M1");
    expect(await outcome).toEqual(new Error("D2 failed"));
    expect(failures).toEqual([new Error("D2 failed")]);
    expect(h.events.filter((e) => e.startsWith("start"))).toEqual(["start data", "start M1", "start D1", "start D2", "start eval-M1"]);
  });

  it("refuses a plan whose needs never run instead of waiting forever", async () => {
    const h = harness();
    await expect(runStagesConcurrently([{ id: "a" }], new Map([["a", ["missing"]]]), h.run, { concurrency: 2 })).rejects.toThrow(/stages a wait on stages that never run/);
  });
});

describe("a shared restart", () => {
  it("restarts a crashed worker once for all the stages the crash failed, and again for a later crash", async () => {
    let restarts = 0;
    const shared = new SharedRestart(async () => {
      restarts++;
      await new Promise((r) => setTimeout(r, 5));
    });
    const seen = shared.generation;
    expect(shared.replacedSince(seen)).toBe(false);
    // Three stages in flight fail with the same crash; one reports it after the restart finished.
    const first = shared.afterCrash(seen);
    // A stage whose next call meets the channel the restart closed knows its worker is gone.
    expect(shared.replacedSince(seen)).toBe(true);
    await Promise.all([first, shared.afterCrash(seen)]);
    expect(shared.replacedSince(seen)).toBe(true);
    expect(shared.replacedSince(shared.generation)).toBe(false);
    await shared.afterCrash(seen);
    expect(restarts).toBe(1);
    expect(shared.generation).toBe(1);
    // A new crash, seen by attempts that began after the restart.
    await Promise.all([shared.afterCrash(1), shared.afterCrash(1)]);
    expect(restarts).toBe(2);
    await shared.settled();
  });

  it("passes a failed restart to every stage waiting on it", async () => {
    const shared = new SharedRestart(() => Promise.reject(new Error("no worker")));
    await expect(Promise.all([shared.afterCrash(0), shared.afterCrash(0)])).rejects.toThrow("no worker");
    expect(shared.generation).toBe(0);
  });
});
