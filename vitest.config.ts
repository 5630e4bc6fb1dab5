import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e tests spawn git and the CLI: two workers fit these 2 cores.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
