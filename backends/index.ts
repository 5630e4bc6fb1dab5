/**
 * The registry: URL scheme → lazily loaded backend factory. A backend's SDK is imported
 * only when its scheme is used, so a git-only run never loads the S3 SDK.
 */
import { ConfigError } from "../src/errors";
import { stripUserinfo } from "../src/redact";
import { parseRemote, schemeOf } from "../src/remote";
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

  /**
   * The loader for a remote (none: the work dir's own repo, in-place mode); throws ConfigError
   * for a malformed remote or a scheme no backend registered. Loads nothing: a usage check.
   */
  backendFor(remote: string | undefined): Loader {
    const scheme = remote === undefined ? "file" : parseRemote(remote).scheme;
    const loader = this.loaders.get(scheme);
    if (!loader) {
      throw new ConfigError(`unknown remote scheme "${scheme}" in ${stripUserinfo(remote ?? "")}`, {
        hint: `use one of: ${this.schemes.map((s) => s + "://").join(", ")}, a local path, or git@host:path`,
      });
    }
    return loader;
  }

  async open(ctx: BackendContext): Promise<Backend> {
    const factory = await this.backendFor(ctx.remote)();
    return factory(ctx);
  }
}

export { schemeOf };

export const registry = new Registry()
  .register(["file", "ssh", "git", "http", "https"], async () => (await import("./git/index")).createGitBackend)
  .register(["s3"], async () => (await import("./s3/index")).createS3Backend);
