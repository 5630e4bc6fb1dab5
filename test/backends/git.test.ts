import { execFileSync } from "node:child_process";
import path from "node:path";
import { createGitBackend } from "../../backends/git/index";
import { resolveSettings } from "../../src/config";
import { log } from "../../src/log";
import { backendContract } from "../contract/backend";
import { cleanEnv, tempDir } from "../helpers";

backendContract("git", {
  remote() {
    const bare = path.join(tempDir("ms-remote-"), "remote.git");
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare], { env: cleanEnv() });
    return bare;
  },
  missingRemote: () => path.join(tempDir("ms-remote-"), "missing.git"),
  async open(remote, dir, stateDir) {
    const settings = await resolveSettings("push", dir, { remote, stateDir }, {}, dir);
    return createGitBackend({ remote, dir, stateDir, settings, log });
  },
});
