/**
 * A sandbox's bare remote served behind real credentials, and the env that points the CLI at
 * it with them: over ssh (a real sshd, a fresh client key, its known_hosts) or over http with
 * a token (git http-backend behind Basic auth). Shared by the credential, leak, random-UID
 * and image tests; the servers stop after the test.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { startGitHttp, type GitHttp } from "./githttp";
import { sandbox, tempDir, type Sandbox } from "./index";
import { sshKeygen, startSshd, type KeyPair, type Sshd } from "./sshd";

export interface SshRemote {
  sshd: Sshd;
  /** The client key sshd accepts (in keysDir). */
  key: KeyPair;
  keysDir: string;
  sb: Sandbox;
  /** `ssh://root@127.0.0.1:PORT<sb.remote>` */
  url: string;
  /** sb.env pointing at the ssh URL, with the key and known_hosts from "the Secret". */
  env: NodeJS.ProcessEnv;
}

/** sshd serving `sb.remote` (default: a new sandbox) to a new key named `keyName`. Needs `needs(...SSHD)`. */
export async function sshRemote(opts: { sb?: Sandbox; keyName?: string } = {}): Promise<SshRemote> {
  const keysDir = tempDir("ms-keys-");
  const key = sshKeygen(keysDir, opts.keyName ?? "client");
  const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
  const sb = opts.sb ?? sandbox();
  const url = sshd.urlFor(sb.remote);
  const env = {
    ...sb.env,
    MIRRORSHADE_REMOTE: url,
    MIRRORSHADE_SSH_KEY_FILE: key.privateKeyPath,
    MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile,
  };
  return { sshd, key, keysDir, sb, url, env };
}

export interface HttpRemote {
  server: GitHttp;
  sb: Sandbox;
  /** `http://127.0.0.1:PORT/remote.git` */
  url: string;
  /** Holds the right token (and a newline). */
  tokenFile: string;
  /** sb.env pointing at the http URL with MIRRORSHADE_TOKEN_FILE. */
  env: NodeJS.ProcessEnv;
}

/** A git http server for `sb.remote` (default: a new sandbox) that wants `token`, or refuses pushes. */
export async function httpRemote(opts: { token?: string; deny?: "push"; sb?: Sandbox } = {}): Promise<HttpRemote> {
  const token = opts.token ?? "tok_right_0123456789";
  const sb = opts.sb ?? sandbox();
  const server = await startGitHttp({ root: sb.root, token, deny: opts.deny });
  const url = server.urlFor("remote.git");
  const tokenFile = path.join(tempDir("ms-token-"), "token");
  writeFileSync(tokenFile, token + "\n");
  const env = { ...sb.env, MIRRORSHADE_REMOTE: url, MIRRORSHADE_TOKEN_FILE: tokenFile };
  return { server, sb, url, tokenFile, env };
}
