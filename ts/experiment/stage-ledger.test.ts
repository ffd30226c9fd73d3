import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LEDGER_FILE, StageLedger } from "./stage-ledger.js";

const dir = () => mkdtempSync(join(tmpdir(), "ledger-"));

describe("stage ledger", () => {
  it("a reused stage reports the time and attempts of the run that computed it", async () => {
    const cache = dir();
    const first = await StageLedger.open(cache);
    await first.started("train-M1"); // killed during this attempt
    await first.started("train-M1");
    expect(await first.finished("train-M1", { reused: false, elapsed: 12.5, outputs: "m-1" })).toEqual({ seconds: 12.5, attempts: 2 });
    const rerun = await StageLedger.open(cache); // a later session of the same run folder
    await rerun.started("train-M1");
    expect(await rerun.finished("train-M1", { reused: true, elapsed: 0.01, outputs: "m-1" })).toEqual({ seconds: 12.5, attempts: 2 });
  });

  it("other outputs are a new computation; the worker's own compute time wins when given", async () => {
    const ledger = await StageLedger.open(dir());
    await ledger.started("s");
    await ledger.finished("s", { reused: false, elapsed: 3, outputs: "a" });
    await ledger.started("s");
    expect(await ledger.finished("s", { reused: false, elapsed: 1, outputs: "b", computeSeconds: 7 })).toEqual({ seconds: 7, attempts: 1 });
    await ledger.started("s");
    expect(await ledger.finished("s", { reused: true, elapsed: 0.5, outputs: "c" })).toEqual({ seconds: 0.5, attempts: 1 });
  });

  it("a damaged ledger starts empty instead of failing the run", async () => {
    const cache = dir();
    writeFileSync(join(cache, LEDGER_FILE), '{"train-M1": {"attem');
    const ledger = await StageLedger.open(cache);
    await ledger.started("train-M1");
    expect(await ledger.finished("train-M1", { reused: true, elapsed: 0.2, outputs: "m" })).toEqual({ seconds: 0.2, attempts: 1 });
  });
});
