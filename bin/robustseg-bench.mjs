#!/usr/bin/env node
// Launcher of the benchmark suite (`npm run bench`): runs ts/bench/main.ts through tsx.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../ts/bench/main.ts");
await main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
