/**
 * git's rules for a branch name (`git check-ref-format`, refs.c, and `git branch`'s own), in
 * TypeScript so a bad `--branch` is refused before anything is created, without starting git.
 * One rule more than git: "@" alone (git takes it as a branch name, but reads `@` as HEAD).
 */

/** Why `name` is not a valid branch name, or undefined when it is. */
export function branchNameProblem(name: string): string | undefined {
  if (name === "") return "it is empty";
  if (name.startsWith("-")) return "it starts with '-'";
  if (name === "HEAD") return '"HEAD" is not a branch name';
  if (name === "@") return '"@" alone means HEAD to git';
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x20\x7f]/.test(name)) return "it holds a space or a control character";
  const bad = /[~^:?*[\\]/.exec(name);
  if (bad) return `it holds "${bad[0]}"`;
  if (name.includes("..")) return 'it holds ".."';
  if (name.includes("@{")) return 'it holds "@{"';
  if (name.startsWith("/") || name.endsWith("/")) return "it starts or ends with '/'";
  if (name.includes("//")) return 'it holds "//"';
  if (name.endsWith(".")) return "it ends with '.'";
  for (const part of name.split("/")) {
    if (part.startsWith(".")) return `the part "${part}" starts with '.'`;
    if (part.endsWith(".lock")) return `the part "${part}" ends with ".lock"`;
  }
  return undefined;
}
