// One git smart-HTTP server on loopback with a token (the tests' server, run by
// githttp-serve.mjs in a process of its own), the request log it keeps, and the
// environment that hands plain git the token the way mirrorshade does (an Authorization
// header through GIT_CONFIG_* env: nothing in argv, the URL or .git/config).
import { Buffer } from "node:buffer";
import path from "node:path";
import { NODE, Proc, cleanEnv } from "./proc.mjs";

const SERVE = path.join(import.meta.dirname, "githttp-serve.mjs");
export const TOKEN_USER = "x-access-token";

/**
 * Start the server on `root` (GIT_PROJECT_ROOT): every request must carry `token`.
 * `requests(from, to)` are the finished requests whose epoch time `t` lies in [from, to].
 */
export async function startGitHttp(root, token) {
  const p = new Proc("githttp", NODE, [SERVE, root], { env: cleanEnv({ BENCH_GITHTTP_TOKEN: token }) });
  const line = await p.waitLine((l) => l.stream === "out" && typeof l.json?.port === "number", { timeout: 30_000 });
  const { port } = line.json;
  return {
    pid: p.pid,
    proc: p,
    origin: `http://127.0.0.1:${port}`,
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    requests: (from = -Infinity, to = Infinity) =>
      p.lines
        .filter((l) => l.stream === "out" && l.json?.kind && l.json.t >= from && l.json.t <= to)
        .map((l) => l.json),
    stop: () => p.stop({ group: true, timeout: 5000 }),
  };
}

/** Plain git's environment for the server at `origin`: `base` plus the token as an Authorization header. */
export function gitTokenEnv(base, origin, token) {
  const basic = Buffer.from(`${TOKEN_USER}:${token}`).toString("base64");
  return {
    ...base,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: `http.${origin}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}
