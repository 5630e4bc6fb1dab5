/**
 * Two places, one remote: `watch --pull` brings other writers' saves into the work dir while
 * it runs, conflicts are written where the user works (a conflict copy beside ours), and
 * deletions are applied only to files unchanged here. Both backends, through the built CLI:
 * two `watch` processes on one remote, or a `watch` and another writer (a plain git clone,
 * an S3 client).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { git, run, startWatch, stop, waitFor, write, type Sandbox } from "../helpers";
import { PREFIX, conflictLines, copiesIn, gitWorld, s3World } from "../helpers/worlds";

/** Fast enough for a test, and the pending window (the debounce) long enough to meet another writer in. */
const PULL = ["--pull", "1s"];
const PENDING = ["--pull", "1s", "--debounce", "3s", "--max-delay", "10s"];

const read = (sb: Sandbox, rel: string) => readFileSync(path.join(sb.work, rel), "utf8");
const readOr = (sb: Sandbox, rel: string) => (existsSync(path.join(sb.work, rel)) ? read(sb, rel) : undefined);
const sha8 = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);
const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");

function notebook(tag: string, cells = 1): string {
  const cell = (i: number) => ({
    cell_type: "code",
    execution_count: null,
    metadata: {},
    outputs: [],
    source: [`print(${JSON.stringify(`${tag} ${i}`)})\n`, `# ${"x".repeat(200)}\n`],
  });
  return (
    JSON.stringify(
      { cells: Array.from({ length: cells }, (_, i) => cell(i)), metadata: {}, nbformat: 4, nbformat_minor: 5 },
      null,
      1,
    ) + "\n"
  );
}

describe.each([
  ["git", gitWorld],
  ["s3", s3World],
] as const)("watch --pull (%s)", (_name, makeWorld) => {
  it("a change saved on one side arrives in the other; deletions too; neither side saves what it took in", async () => {
    const world = await makeWorld();
    const a = await world.side("alice");
    const b = await world.side("bob");
    write(a.sb.work, "keep.txt", "kept\n");
    write(a.sb.work, "gone.txt", "to be deleted\n");
    const wa = await startWatch(a.sb, PULL);
    await waitFor("alice's first save", async () => (await world.files()).get("gone.txt") === "to be deleted\n");
    const wb = await startWatch(b.sb, PULL);
    expect(read(b.sb, "gone.txt")).toBe("to be deleted\n"); // restored at start

    write(a.sb.work, "notes.ipynb", notebook("from alice"));
    await waitFor("alice's notebook in bob's dir", () => readOr(b.sb, "notes.ipynb") === notebook("from alice"));
    write(b.sb.work, "reply.txt", "from bob\n");
    await waitFor("bob's reply in alice's dir", () => readOr(a.sb, "reply.txt") === "from bob\n");
    // Deleted there, unchanged here: deleted here too, and not saved back.
    rmSync(path.join(a.sb.work, "gone.txt"));
    await waitFor("gone.txt gone from bob's dir", () => !existsSync(path.join(b.sb.work, "gone.txt")));
    // A later change on alice's side arriving is the sync point for the checks below.
    write(a.sb.work, "marker.txt", "1\n");
    await waitFor("the marker in bob's dir", () => readOr(b.sb, "marker.txt") === "1\n");
    expect((await world.files()).has("gone.txt")).toBe(false);
    expect(existsSync(path.join(a.sb.work, "gone.txt"))).toBe(false);

    // What bob took in was never saved by bob: his only save is his reply.
    if (world.kind === "git") {
      const byBob = git(a.sb.remote, "log", "--all", "--author=bob@", "--format=", "--name-only")
        .split("\n")
        .filter(Boolean);
      expect(byBob).toEqual(["reply.txt"]);
    } else {
      const puts = b.proxy!.requests.filter(
        (q) => (q.method === "PUT" || q.method === "POST") && !q.key.startsWith(`${PREFIX}/.mirrorshade/`),
      );
      expect([...new Set(puts.map((q) => q.key))]).toEqual([`${PREFIX}/reply.txt`]);
    }
    expect(copiesIn(readdirSync(b.sb.work))).toEqual([]);
    expect((await stop(wa)).code).toBe(0);
    expect((await stop(wb)).code).toBe(0);
  });

  it("the same notebook changed on both sides: ours in place, theirs beside it as the conflict copy, both at the remote; met again with the same content, still one copy", async () => {
    const world = await makeWorld();
    const a = await world.side("alice");
    write(a.sb.work, "nb.ipynb", notebook("base"));
    const w = await startWatch(a.sb, [...PENDING, "--listen", "127.0.0.1:0"]);
    const listening = await w.waitForLog("the listener", (l) => String(l.msg).startsWith("health and metrics on"));
    const port = Number(/:(\d+)$/.exec(String(listening.msg))![1]);
    await waitFor("the base saved", async () => (await world.files()).get("nb.ipynb") === notebook("base"));

    // Ours is written (and waits for the debounce) while another writer saves theirs.
    write(a.sb.work, "nb.ipynb", notebook("ours"));
    const when = (await world.other({ "nb.ipynb": notebook("theirs") })).get("nb.ipynb")!;
    const first = await waitFor("a conflict", () => conflictLines(w)[0]);
    const copy = `nb.conflict-${stamp(when)}-${sha8(notebook("theirs"))}.ipynb`;
    expect(first.conflicts).toEqual([expect.objectContaining({ path: "nb.ipynb", copy })]);
    expect(read(a.sb, "nb.ipynb")).toBe(notebook("ours"));
    expect(read(a.sb, copy)).toBe(notebook("theirs"));
    await waitFor("ours and the copy at the remote", async () => {
      const f = await world.files();
      return f.get("nb.ipynb") === notebook("ours") && f.get(copy) === notebook("theirs");
    });
    // status and /metrics name it too.
    const st = await run(["status", a.sb.work, "--json"], { env: a.sb.env });
    expect(st.code, st.stderr).toBe(0);
    const status = JSON.parse(st.stdout) as { conflicts: number; recentConflicts: { path: string; copy?: string }[] };
    expect(status.recentConflicts).toEqual([expect.objectContaining({ path: "nb.ipynb", copy })]);
    const shown = await run(["status", a.sb.work], { env: a.sb.env });
    expect(shown.stdout).toContain(`nb.ipynb (theirs: ${copy})`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^mirrorshade_conflicts_total 1$/m);
    expect(metrics).toMatch(/^mirrorshade_pulls_total [1-9]/m);

    // Again: ours changes, and the other writer saves something else, then theirs again (a new version, later).
    write(a.sb.work, "nb.ipynb", notebook("ours, again"));
    await world.other({ "nb.ipynb": notebook("theirs, meanwhile") });
    await world.other({ "nb.ipynb": notebook("theirs") });
    await waitFor("the second conflict", () => conflictLines(w)[1]);
    await waitFor(
      "ours again at the remote",
      async () => (await world.files()).get("nb.ipynb") === notebook("ours, again"),
    );
    expect(copiesIn(readdirSync(a.sb.work))).toEqual([copy]);
    expect(copiesIn((await world.files()).keys())).toEqual([copy]);
    expect(read(a.sb, "nb.ipynb")).toBe(notebook("ours, again"));
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
  });

  it("deleted there and unchanged here: deleted here; deleted there and changed here: ours kept and saved", async () => {
    const world = await makeWorld();
    const a = await world.side("alice");
    write(a.sb.work, "unchanged.txt", "u\n");
    write(a.sb.work, "changed.txt", "c\n");
    const w = await startWatch(a.sb, PENDING);
    await waitFor("the first save", async () => (await world.files()).get("changed.txt") === "c\n");

    write(a.sb.work, "changed.txt", "changed here\n");
    await world.other({ "unchanged.txt": null, "changed.txt": null });
    await waitFor("unchanged.txt deleted here", () => !existsSync(path.join(a.sb.work, "unchanged.txt")));
    await waitFor("ours saved again", async () => (await world.files()).get("changed.txt") === "changed here\n");
    expect(read(a.sb, "changed.txt")).toBe("changed here\n");
    expect((await world.files()).has("unchanged.txt")).toBe(false);
    expect(copiesIn(readdirSync(a.sb.work))).toEqual([]);
    expect((await stop(w)).code).toBe(0);
  });

  it(
    "a pull while a notebook is rewritten in place never lands a half file, in either direction",
    { timeout: 180_000 },
    async () => {
      const world = await makeWorld();
      const a = await world.side("alice");
      write(a.sb.work, "local.ipynb", notebook("local 0", 200));
      write(a.sb.work, "remote.ipynb", notebook("remote 0", 200));
      const w = await startWatch(a.sb, PULL);
      await waitFor(
        "the first save",
        async () => (await world.files()).get("remote.ipynb") === notebook("remote 0", 200),
      );

      // Alice's notebook is rewritten in place (Jupyter truncates and writes) while the other
      // writer saves the other notebook, and now and then this one too.
      let running = true;
      const badReads: string[] = [];
      const sampler = (async () => {
        while (running) {
          const text = readOr(a.sb, "remote.ipynb");
          try {
            if (text !== undefined) JSON.parse(text);
          } catch {
            badReads.push(`${new Date().toISOString()} ${text!.length} bytes: ${JSON.stringify(text!.slice(0, 80))}`);
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      const remoteSamples: string[] = [];
      let last = "";
      for (let i = 1; i <= 12; i++) {
        await world.other({
          "remote.ipynb": notebook(`remote ${i}`, 200),
          ...(i % 4 === 0 ? { "local.ipynb": notebook(`theirs ${i}`, 200) } : {}),
        });
        last = notebook(`local ${i}`, 200);
        const fh = await open(path.join(a.sb.work, "local.ipynb"), "r+");
        await fh.truncate(0);
        const bytes = Buffer.from(last);
        for (let off = 0; off < bytes.length; off += 8192) {
          await fh.write(bytes, off, Math.min(8192, bytes.length - off), off);
          await new Promise((r) => setTimeout(r, 2)); // a writer slower than one syscall
        }
        await fh.close();
        const now = (await world.files()).get("local.ipynb");
        if (now !== undefined) remoteSamples.push(now);
      }
      await waitFor(
        "the last remote version here",
        () => readOr(a.sb, "remote.ipynb") === notebook("remote 12", 200),
        60_000,
      );
      await waitFor(
        "the last local version at the remote",
        async () => (await world.files()).get("local.ipynb") === last,
        60_000,
      );
      running = false;
      await sampler;

      expect(
        badReads.slice(0, 3),
        `${badReads.length} bad reads; the watch logged:\n${w.stderr().slice(-3000)}`,
      ).toEqual([]);
      for (const v of [...remoteSamples, ...(await world.versions("local.ipynb"))])
        expect(() => JSON.parse(v)).not.toThrow();
      for (const c of copiesIn(readdirSync(a.sb.work))) expect(() => JSON.parse(read(a.sb, c)), c).not.toThrow();
      expect(read(a.sb, "local.ipynb")).toBe(last);
      expect((await stop(w)).code).toBe(0);
    },
  );
});
