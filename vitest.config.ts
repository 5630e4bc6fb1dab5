import { configDefaults, defineConfig } from "vitest/config";
// .js: the specifier Vite's config loader resolves to needs.ts without a warning.
import { skipLine } from "./test/helpers/needs.js";

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
    // Tests that need a system package skip without it, with one line per package for the
    // whole run; under MIRRORSHADE_REQUIRE_ALL (CI) the run fails first (test/helpers/needs.ts).
    globalSetup: ["test/helpers/needs.ts"],
    onConsoleLog: skipLine(),
  },
});
