/**
 * Notebooks changed on both sides (issue 14), through the built CLI, two `watch --pull` work dirs
 * on one remote, both backends: edits to different cells, or cells added at different places,
 * merge by cell (one notebook, both edits, at the remote and in both work dirs, no conflict copy);
 * the same cell edited differently is a conflict as before (ours in place, theirs beside it); and
 * `--strip-outputs` keeps every output out of the remote while the work dirs keep theirs, through
 * a pull, a restart and a first restore (and a notebook changed here only by a run is unchanged:
 * deleted there, it goes here too).
 *
 * Alice saves first (a short debounce), bob second (a longer one, started first): bob's change is
 * pending while alice's is saved, so his pull waits and his save meets hers. Bob merges.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { git, run, startWatch, stop, tempDir, waitFor, write, type Running, type Sandbox } from "../helpers";
import { fixture, jupyter, parse, replaceOnce, sources, validate, variant, type Obj } from "../helpers/notebooks";
import { PREFIX, conflictLines, copiesIn, gitWorld, s3World, type World } from "../helpers/worlds";

const ALICE = ["--pull", "1s", "--debounce", "500ms"];
const BOB = ["--pull", "1s", "--debounce", "3s", "--max-delay", "10s"];

const read = (sb: Sandbox, rel: string) => readFileSync(path.join(sb.work, rel), "utf8");
const readOr = (sb: Sandbox, rel: string) => (existsSync(path.join(sb.work, rel)) ? read(sb, rel) : undefined);

const merges = (w: Running) => w.logs().filter((l) => l.msg === "merged nb.ipynb (cells from both sides)");

/** Alice saves `base` as nb.ipynb (and `more`), bob restores it; both watch with --pull. */
async function twoSides(world: World, base: string, extra: string[] = [], more: Record<string, string> = {}) {
  const a = await world.side("alice");
  const b = await world.side("bob");
  for (const [rel, text] of Object.entries({ ...more, "nb.ipynb": base })) write(a.sb.work, rel, text);
  const wa = await startWatch(a.sb, [...ALICE, ...extra]);
  await waitFor("alice's notebooks at the remote", async () => {
    const f = await world.files();
    return ["nb.ipynb", ...Object.keys(more)].every((p) => f.has(p));
  });
  const wb = await startWatch(b.sb, [...BOB, ...extra]);
  return { a, b, wa, wb };
}

describe.each([
  ["git", gitWorld],
  ["s3", s3World],
] as const)("notebooks changed on both sides (%s)", (_name, makeWorld) => {
  const base = fixture("v4.5-ids.ipynb");

  it("different cells edited on each side: one notebook holding both edits at the remote and in both work dirs, no conflict copy", async () => {
    const world = await makeWorld();
    const { a, b, wa, wb } = await twoSides(world, base);
    expect(read(b.sb, "nb.ipynb")).toBe(base);

    write(b.sb.work, "nb.ipynb", replaceOnce(base, '"1 / 0"', '"1 / 2"'));
    write(a.sb.work, "nb.ipynb", replaceOnce(base, '"1 + 1"', '"1 + 2"'));
    // Python's layout, floats (2.0, 1e-05) and escapes included: every byte but the two edits as it was.
    const both = replaceOnce(replaceOnce(base, '"1 + 1"', '"1 + 2"'), '"1 / 0"', '"1 / 2"');
    await waitFor("the merged notebook at the remote", async () => (await world.files()).get("nb.ipynb") === both);
    await waitFor("the merged notebook in bob's dir", () => readOr(b.sb, "nb.ipynb") === both);
    await waitFor("the merged notebook in alice's dir", () => readOr(a.sb, "nb.ipynb") === both);

    expect(merges(wb)).toHaveLength(1);
    // status (and /metrics) count the merge.
    const status = await run(["status", b.sb.work, "--json"], { env: b.sb.env });
    expect((JSON.parse(status.stdout) as { merges: number }).merges).toBe(1);
    for (const w of [wa, wb]) expect(conflictLines(w)).toEqual([]);
    expect(copiesIn(readdirSync(a.sb.work))).toEqual([]);
    expect(copiesIn(readdirSync(b.sb.work))).toEqual([]);
    expect(copiesIn((await world.files()).keys())).toEqual([]);
    expect(validate(both)).toEqual([]);
    if (world.kind === "git") {
      // The merge commit's tree holds the merged blob; no conflict branch.
      expect(git(b.sb.remote, "branch", "--list", "mirrorshade/conflict/*").trim()).toBe("");
    }
    expect((await stop(wa)).code).toBe(0);
    expect((await stop(wb)).code).toBe(0);
  });

  it("the same cell edited differently: ours in place, theirs as the conflict copy", async () => {
    const world = await makeWorld();
    const { a, b, wa, wb } = await twoSides(world, base);
    const bobs = replaceOnce(base, '"1 + 1"', '"1 + 3"');
    const alices = replaceOnce(base, '"1 + 1"', '"1 + 2"');
    write(b.sb.work, "nb.ipynb", bobs);
    write(a.sb.work, "nb.ipynb", alices);

    const line = await waitFor("bob's conflict", () => conflictLines(wb)[0]);
    const copy = line.conflicts[0]!.copy!;
    expect(line.conflicts).toEqual([expect.objectContaining({ path: "nb.ipynb", copy })]);
    expect(read(b.sb, "nb.ipynb")).toBe(bobs);
    expect(read(b.sb, copy)).toBe(alices);
    await waitFor("bob's version and the copy at the remote", async () => {
      const f = await world.files();
      return f.get("nb.ipynb") === bobs && f.get(copy) === alices;
    });
    // Alice had not changed it since her save: bob's version replaces hers, her own comes back as the copy.
    await waitFor("both in alice's dir", () => readOr(a.sb, "nb.ipynb") === bobs && readOr(a.sb, copy) === alices);
    expect(merges(wb)).toEqual([]);
    expect(copiesIn(readdirSync(b.sb.work))).toEqual([copy]);
    expect((await stop(wa)).code).toBe(0);
    expect((await stop(wb)).code).toBe(0);
  });

  it("cells added on both sides at different places: both kept, in order", async () => {
    const world = await makeWorld();
    const start = jupyter(parse(base));
    const { a, b, wa, wb } = await twoSides(world, start);
    const cell = (text: string, id: string): Obj => ({ cell_type: "markdown", id, metadata: {}, source: [text] });
    write(
      b.sb.work,
      "nb.ipynb",
      variant(start, (nb) => nb.cells.splice(1, 0, cell("bob's note", "b0b0b0b0"))),
    );
    write(
      a.sb.work,
      "nb.ipynb",
      variant(start, (nb) => nb.cells.splice(6, 0, cell("alice's note", "a11ce000"))),
    );
    const want = sources(start);
    want.splice(6, 0, "alice's note");
    want.splice(1, 0, "bob's note");
    const merged = (text: string | undefined) =>
      text !== undefined && JSON.stringify(sources(text)) === JSON.stringify(want);
    await waitFor("both cells at the remote", async () => merged((await world.files()).get("nb.ipynb")));
    await waitFor("both cells in bob's dir", () => merged(readOr(b.sb, "nb.ipynb")));
    await waitFor("both cells in alice's dir", () => merged(readOr(a.sb, "nb.ipynb")));
    expect(validate(read(a.sb, "nb.ipynb"))).toEqual([]);
    expect(parse(read(b.sb, "nb.ipynb")).cells.map((c) => c.id)).toContain("a11ce000");
    expect(merges(wb)).toHaveLength(1);
    expect(copiesIn(readdirSync(b.sb.work))).toEqual([]);
    expect(copiesIn((await world.files()).keys())).toEqual([]);
    expect((await stop(wa)).code).toBe(0);
    expect((await stop(wb)).code).toBe(0);
  });
});

describe.each([
  ["git", gitWorld],
  ["s3", s3World],
] as const)("--strip-outputs (%s)", (_name, makeWorld) => {
  const STRIP = ["--strip-outputs"];
  /** Outputs only a run wrote: they must never reach the remote. */
  const ran = (who: string) =>
    replaceOnce(fixture("v4.5-ids.ipynb"), '"evalue": "division by zero"', `"evalue": "OUTPUT-OF-${who}-4e1d"`);
  const outputsIn = (text: string) =>
    parse(text).cells.filter((c) => c.cell_type === "code" && ((c.outputs as Obj[]).length || c.execution_count));

  it("no output in any commit or object; local outputs intact after a pull, a restart and a first restore", async () => {
    const world = await makeWorld();
    const alice = ran("ALICE");
    const { a, b, wa, wb } = await twoSides(world, alice, STRIP, { "old.ipynb": alice });
    const stripped = fixture("v4.5-ids.stripped.ipynb");
    expect((await world.files()).get("nb.ipynb")).toBe(stripped);
    expect(read(b.sb, "nb.ipynb")).toBe(stripped);
    expect(read(a.sb, "nb.ipynb")).toBe(alice);

    // Bob runs the notebook: outputs here, nothing new at the remote.
    const bob = ran("BOB");
    const saves = () => wb.logs().filter((l) => String(l.msg).startsWith("saved ")).length;
    const before = saves();
    write(b.sb.work, "nb.ipynb", bob);
    write(b.sb.work, "old.ipynb", bob);
    await waitFor("bob's save of his run", () => saves() > before);
    expect((await world.files()).get("nb.ipynb")).toBe(stripped);

    // Alice deletes a notebook bob only ran: unchanged there but for outputs, so deleted there too.
    rmSync(path.join(a.sb.work, "old.ipynb"));
    await waitFor("old.ipynb gone from bob's dir", () => !existsSync(path.join(b.sb.work, "old.ipynb")));
    expect((await world.files()).has("old.ipynb")).toBe(false);

    // Alice edits a cell (her outputs stay): it reaches bob's dir by cell, bob's outputs intact.
    const edited = replaceOnce(alice, '"1 + 1"', '"1 + 2"');
    write(a.sb.work, "nb.ipynb", edited);
    const strippedEdit = replaceOnce(stripped, '"1 + 1"', '"1 + 2"');
    await waitFor("alice's edit at the remote", async () => (await world.files()).get("nb.ipynb") === strippedEdit);
    await waitFor("alice's edit in bob's dir", () => readOr(b.sb, "nb.ipynb")?.includes('"1 + 2"'));
    expect(read(b.sb, "nb.ipynb")).toBe(replaceOnce(bob, '"1 + 1"', '"1 + 2"'));
    expect(read(a.sb, "nb.ipynb")).toBe(edited);
    for (const w of [wa, wb]) expect(conflictLines(w)).toEqual([]);
    expect((await stop(wa)).code).toBe(0);
    expect((await stop(wb)).code).toBe(0);

    // A restart (resume), then a first restore with a fresh state dir: ours is kept, outputs and all, no copy.
    const again = await startWatch(a.sb, [...ALICE, ...STRIP]);
    expect((await stop(again)).code).toBe(0);
    expect(read(a.sb, "nb.ipynb")).toBe(edited);
    const fresh = { ...a.sb.env, MIRRORSHADE_STATE_DIR: path.join(tempDir("ms-strip-state-"), "state") };
    const r = await run(["restore", a.sb.work, "--json", ...STRIP], { env: fresh });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kept: [], conflicts: [] });
    expect(read(a.sb, "nb.ipynb")).toBe(edited);
    expect(readdirSync(a.sb.work)).toEqual(["nb.ipynb"]);
    const p = await run(["push", a.sb.work, "--json", ...STRIP], { env: fresh });
    expect(p.code, p.stderr).toBe(0);
    expect(read(a.sb, "nb.ipynb")).toBe(edited);

    // What the remote holds, in any form: no output of either side, ever.
    const stored = await world.stored();
    expect(stored).toContain('"1 + 2"');
    expect(stored).not.toContain("OUTPUT-OF-ALICE");
    expect(stored).not.toContain("OUTPUT-OF-BOB");
    for (const v of await world.versions("nb.ipynb")) expect(outputsIn(v)).toEqual([]);
    expect(outputsIn(read(a.sb, "nb.ipynb"))).not.toEqual([]);
    if (world.kind === "s3") {
      // Bob's run sent nothing: his only uploads of the notebook are none at all.
      const puts = b.proxy!.requests.filter((q) => q.method === "PUT" && q.key === `${PREFIX}/nb.ipynb`);
      expect(puts).toEqual([]);
    } else {
      expect(git(a.sb.remote, "log", "--all", "--author=bob@", "--format=%H")).toBe("");
    }
  });
});
