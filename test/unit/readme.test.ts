import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_CODES } from "../../src/errors";
import { OPTIONS, envName, flagName } from "../../src/options";

const readme = readFileSync(path.join(__dirname, "../../README.md"), "utf8");

describe("README stays true to the option table", () => {
  it.each(Object.keys(OPTIONS))("documents %s (flag and env)", (key) => {
    expect(readme).toContain(`--${flagName(key)}`);
    expect(readme).toContain(envName(key));
  });

  it("documents every exit code", () => {
    for (const code of Object.values(EXIT_CODES)) expect(readme).toMatch(new RegExp(`^\\| ${code}\\s+\\|`, "m"));
  });
});
