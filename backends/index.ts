/**
 * The registry: URL scheme → lazily loaded backend factory. A backend's SDK is imported
 * only when its scheme is used, so a git-only run never loads the S3 SDK.
 */
import { ConfigError } from "../src/errors";
import { stripUserinfo } from "../src/redact";
import type { BackendContext, Backend, BackendFactory } from "./types";

export type Loader = () => Promise<BackendFactory>;

export class Registry {
  private readonly loaders = new Map<string, Loader>();

  register(schemes: string[], loader: Loader): this {
    for (const scheme of schemes) {
      if (this.loaders.has(scheme)) throw new Error(`backend scheme "${scheme}" registered twice`);
      this.loaders.set(scheme, loader);
    }
    return this;
  }

  get schemes(): string[] {
    return [...this.loaders.keys()];
  }

  async open(ctx: BackendContext): Promise<Backend> {
    const scheme = ctx.remote === undefined ? "file" : schemeOf(ctx.remote);
    const loader = this.loaders.get(scheme);
    if (!loader) {
      throw new ConfigError(`unknown remote scheme "${scheme}" in ${stripUserinfo(ctx.remote ?? "")}`, {
        hint: `use one of: ${this.schemes.map((s) => s + "://").join(", ")}, a local path, or git@host:path`,
      });
    }
    const factory = await loader();
    return factory(ctx);
  }
}

/** The URL's scheme; `ssh` for scp-like `[user@]host:path` (git's rule: a colon before any slash); else `file`. */
export function schemeOf(remote: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(remote);
  if (m) return m[1]!.toLowerCase();
  const colon = remote.indexOf(":");
  if (colon > 0 && !remote.slice(0, colon).includes("/")) return "ssh";
  return "file";
}

export const registry = new Registry()
  .register(["file", "ssh", "git", "http", "https"], async () => (await import("./git")).createGitBackend)
  .register(["s3"], async () => (await import("./s3")).createS3Backend);
