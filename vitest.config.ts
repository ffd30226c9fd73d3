import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["ts/**/*.test.ts", "test/**/*.test.ts"],
    // End-to-end tests spawn the real worker (torch import, training on tiny data).
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
