import { configDefaults, defineConfig } from "vitest/config";

// Tests of the built artifacts (the single binary, the container image) are slow: they run
// from their own npm scripts (`test:binary`, `test:image`) and CI stages, not in `npm test`.
const ARTIFACT_TESTS = ["test/binary/**", "test/image/**"];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: process.env.MIRRORSHADE_ARTIFACT_TESTS
      ? configDefaults.exclude
      : [...configDefaults.exclude, ...ARTIFACT_TESTS],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e tests spawn git and the CLI: two workers fit these 2 cores.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
