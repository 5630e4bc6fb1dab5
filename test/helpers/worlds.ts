/**
 * One remote shared by several sides, for the tests of two writers (watch --pull, notebooks
 * merged by cell), on either backend: a fresh work dir and state dir per side, another writer
 * saving straight to the remote, and what the remote holds (its tip, every version, every byte).
 */
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import path from "node:path";
import { cloneRemote, commitAndPush, git, remoteFiles, sandbox, tempDir, type Running, type Sandbox } from "./index";
import { BUCKET, head, objects, putText, s3Sandbox, startProxy, startS3rver, type Proxy } from "./s3";

/** The S3 prefix of an S3 world. */
export const PREFIX = "notes";
/** A conflict copy's name (DESIGN.md "Conflict copies"). */
export const COPY = /\.conflict-\d{8}T\d{6}Z-[0-9a-f]{8}(\.[^./]+)?$/;
export const copiesIn = (names: Iterable<string>) => [...names].filter((n) => COPY.test(n)).sort();

/** The remote, seen by the test: what another writer does to it, and what it holds. */
export interface World {
  kind: "git" | "s3";
  /** A fresh work dir and state dir on the shared remote (with `proxy`, S3 requests are recorded). */
  side(name: string): Promise<{ sb: Sandbox; proxy?: Proxy }>;
  /** Another writer saves (null deletes); the time its version of each path got at the remote. */
  other(files: Record<string, string | null>): Promise<Map<string, Date>>;
  /** Path → content at the remote now (the reserved S3 area left out). */
  files(): Promise<Map<string, string>>;
  /** Every version of `rel` the remote ever held that can still be read (git: any branch's history). */
  versions(rel: string): Promise<string[]>;
  /** Every byte the remote stores, as text: git's every object (any ref, any history), every S3 object. */
  stored(): Promise<string>;
}

export async function gitWorld(): Promise<World> {
  const bare = path.join(tempDir("ms-pull-remote-"), "remote.git");
  git(path.dirname(bare), "init", "-q", "--bare", "-b", "main", bare);
  return {
    kind: "git",
    async side(name) {
      const sb = sandbox({ remote: "none" });
      sb.remote = bare;
      sb.env = { ...sb.env, MIRRORSHADE_REMOTE: bare, MIRRORSHADE_AUTHOR: `${name} <${name}@example.com>` };
      return { sb };
    },
    async other(files) {
      // Someone else pushing while a watch pushes too: rejected when the watch wins the race
      // (non-fast-forward, or "cannot lock ref" at the same instant); they try again on the new tip.
      let clone = "";
      let id = "";
      for (let attempt = 1; !id; attempt++) {
        clone = cloneRemote(bare);
        git(clone, "symbolic-ref", "HEAD", "refs/heads/main");
        try {
          id = commitAndPush(clone, files);
        } catch (err) {
          if (attempt === 5) throw err;
        }
      }
      const secs = Number(git(clone, "log", "-1", "--format=%ct", id).trim());
      return new Map(Object.keys(files).map((p) => [p, new Date(secs * 1000)]));
    },
    files: async () => remoteFiles(bare),
    async versions(rel) {
      const ids = git(bare, "log", "--all", "--format=%H", "--", rel).split("\n").filter(Boolean);
      return ids.flatMap((id) => {
        try {
          return [git(bare, "show", `${id}:${rel}`)];
        } catch {
          return []; // the commit deleted it
        }
      });
    },
    stored: async () => git(bare, "cat-file", "--batch-all-objects", "--batch"),
  };
}

export async function s3World(): Promise<World> {
  const server = await startS3rver();
  const remote = `s3://${BUCKET}/${PREFIX}`;
  const world: World = {
    kind: "s3",
    async side() {
      // Conditional writes, as AWS has them: a save notices the other writer (s3rver alone does not).
      const proxy = await startProxy(server.endpoint, { conditional: true });
      return { sb: s3Sandbox(proxy.endpoint, {}, remote), proxy };
    },
    async other(files) {
      const times = new Map<string, Date>();
      for (const [rel, content] of Object.entries(files)) {
        const key = `${PREFIX}/${rel}`;
        if (content === null) await server.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        else {
          await putText(server.client, key, content);
          times.set(rel, (await head(server.client, key)).LastModified!);
        }
      }
      return times;
    },
    async files() {
      const out = new Map<string, string>();
      for (const [k, v] of await objects(server.client, PREFIX + "/"))
        if (!k.startsWith(`${PREFIX}/.mirrorshade/`)) out.set(k.slice(PREFIX.length + 1), v);
      return out;
    },
    async versions(rel) {
      const v = (await world.files()).get(rel);
      return v === undefined ? [] : [v];
    },
    async stored() {
      return [...(await objects(server.client, ""))].map(([k, v]) => `${k}\n${v}`).join("\n");
    },
  };
  return world;
}

/** The conflict log lines a watch wrote so far. */
export function conflictLines(w: Running): { paths: string[]; conflicts: { path: string; copy?: string }[] }[] {
  return w.logs().filter((l) => l.level === "error" && String(l.msg).startsWith("conflict:")) as unknown as {
    paths: string[];
    conflicts: { path: string; copy?: string }[];
  }[];
}
