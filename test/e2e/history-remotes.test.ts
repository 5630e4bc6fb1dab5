/**
 * `log` and `restore --at` over the other remotes: git over https (http-backend behind a
 * token) and ssh (a real sshd), where the shallow fetch and the deepening go over the wire,
 * and S3 (s3rver, a store without versioning: the records list every save, and what the
 * store no longer holds is named, with the hint to turn versioning on).
 */
import { readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { elsewhere, reportedError, run, startWatch, stop, waitFor, write, type Sandbox } from "../helpers";
import { longHistory } from "../helpers/history";
import { needs } from "../helpers/needs";
import { httpRemote, sshRemote } from "../helpers/remotes";
import { BUCKET, keys, objects, s3Sandbox, startS3rver } from "../helpers/s3";
import { SSHD } from "../helpers/sshd";

type Saves = { saves: { id: string; files: { path: string; op: string }[] }[] };
const read = (dir: string, rel: string) => readFileSync(path.join(dir, rel), "utf8");

/** Shallow restore, log deepening over the wire, then a past save into another dir. */
async function overTheWire(sb: Sandbox, env: NodeJS.ProcessEnv): Promise<void> {
  const h = longHistory(sb.remote, 120, { files: { "a.txt": "a0\n" }, changes: { 60: { "a.txt": "a60\n" } } });
  const restored = await run(["restore", sb.work], { env });
  expect(restored.code, restored.stderr).toBe(0);
  const log = await run(["log", sb.work, "--json", "--", "a.txt"], { env });
  expect(log.code, log.stderr).toBe(0);
  expect((JSON.parse(log.stdout) as Saves).saves.map((s) => s.id)).toEqual([h.ids[60], h.ids[0]]);
  const other = elsewhere(sb, env);
  const back = await run(["restore", other.work, "--at", h.ids[30]!.slice(0, 12)], { env: other.env });
  expect(back.code, back.stderr).toBe(0);
  expect(read(other.work, "a.txt")).toBe("a0\n");
  expect(read(other.work, "log.txt")).toBe(h.logAt(30));
}

describe("history over https and ssh", () => {
  it("https with a token: shallow restore, log, restore --at", async () => {
    const { sb, env } = await httpRemote();
    await overTheWire(sb, env);
  });

  it.skipIf(needs(...SSHD))("ssh with a key: shallow restore, log, restore --at", async () => {
    const { sb, env } = await sshRemote();
    await overTheWire(sb, env);
  });
});

describe("history on S3 without versioning (s3rver)", () => {
  it("log lists every push; restore --at brings back what the store holds and names the rest (exit 6, versioning hint)", async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    write(sb.work, "changed.txt", "v1\n");
    write(sb.work, "deleted.txt", "later deleted\n");
    write(sb.work, "same/s.txt", "same\n");
    expect((await run(["push", sb.work], { env: sb.env })).code).toBe(0);
    write(sb.work, "changed.txt", "v2\n");
    rmSync(path.join(sb.work, "deleted.txt"));
    expect((await run(["push", sb.work], { env: sb.env })).code).toBe(0);
    expect(await keys(server.client, "notes/")).not.toContainEqual(expect.stringContaining("/saves/"));
    expect((await keys(server.client, "notes/.mirrorshade/saves/", BUCKET, { records: true })).length).toBe(2);

    const other = elsewhere(sb);
    const log = await run(["log", other.work, "--json"], { env: other.env });
    expect(log.code, log.stderr).toBe(0);
    const saves = (JSON.parse(log.stdout) as Saves).saves;
    expect(saves.map((s) => s.files.map((f) => `${f.op} ${f.path}`).sort())).toEqual([
      ["delete deleted.txt", "modify changed.txt"],
      ["add changed.txt", "add deleted.txt", "add same/s.txt"],
    ]);

    const back = await run(["restore", other.work, "--at", saves[1]!.id, "--json"], { env: other.env });
    expect(back.code, back.stderr).toBe(6);
    const r = JSON.parse(back.stdout) as {
      ok: boolean;
      written: string[];
      missing: { path: string; reason: string }[];
    };
    expect(r.ok).toBe(false);
    expect(r.written).toEqual(["deleted.txt", "same/s.txt"]);
    expect(r.missing).toEqual([{ path: "changed.txt", reason: expect.stringMatching(/keeps no versions/) }]);
    const said = reportedError(back.stderr).join("\n");
    expect(said).toMatch(/1 file\(s\) of save [0-9a-f]{12} could not be brought back: changed\.txt/);
    expect(said).toMatch(/hint: turn on versioning for the bucket/);
    expect(read(other.work, "deleted.txt")).toBe("later deleted\n"); // from the trash
    expect(readdirSync(other.work).sort()).toEqual(["deleted.txt", "same"]);
  });

  it("with a watch running: log and restore --at go through it, and a file brought back from the trash is saved", async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    write(sb.work, "keep.txt", "k\n");
    write(sb.work, "oops.ipynb", '{"cells": []}\n');
    const w = await startWatch(sb);
    await waitFor("the first save", async () => (await keys(server.client, "notes/")).includes("notes/oops.ipynb"));
    rmSync(path.join(sb.work, "oops.ipynb"));
    await waitFor(
      "the deletion saved",
      async () => !(await keys(server.client, "notes/")).includes("notes/oops.ipynb"),
    );

    const log = await run(["log", sb.work, "--json"], { env: sb.env });
    expect(log.code, log.stderr).toBe(0);
    expect(log.stderr).toMatch(/a watch runs on this dir: asking it/);
    const saves = (JSON.parse(log.stdout) as Saves).saves;
    expect(saves[0]!.files).toEqual([{ path: "oops.ipynb", op: "delete" }]);

    const back = await run(["restore", sb.work, "--at", saves[1]!.id, "--", "oops.ipynb"], { env: sb.env });
    expect(back.code, back.stderr).toBe(0);
    expect(read(sb.work, "oops.ipynb")).toBe('{"cells": []}\n');
    await waitFor("oops.ipynb saved again", async () =>
      (await objects(server.client, "notes/")).get("notes/oops.ipynb"),
    );
    expect((await stop(w)).code).toBe(0);
  });
});
