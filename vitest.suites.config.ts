import { defineConfig } from "vitest/config";

// The slow CI suites (npm run test:chaos, test:fuzz, test:concurrency): not part of `npm test`.
// One file at a time: each drives real workers and the CLI as subprocesses.
export default defineConfig({
  test: {
    include: ["test/suites/**/*.suite.ts"],
    testTimeout: 40 * 60_000,
    hookTimeout: 10 * 60_000,
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
  },
});
