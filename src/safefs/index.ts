/**
 * Safe access to the work dir, which a less trusted writer (the notebook user) controls.
 * Nothing outside it is ever read, written or deleted through it, whatever it holds:
 *  - every path is opened component by component from a descriptor of the work dir, never
 *    following a symlink (dirs.ts: the descriptor cache, /proc/self/fd in place of openat);
 *  - files are opened with O_NONBLOCK and accepted only when `fstat` of what was opened says
 *    regular file, below a size cap (read.ts);
 *  - writes go to a temp file beside the path, then a rename or link (write.ts);
 *  - what cannot be read is a reason (`skip`), never an exception and never a hang, so one
 *    bad path does not fail the save of the others (reasons.ts).
 */
export { UnsafePathError, badName, reasonOf, specialReason, type Kind } from "./reasons";
export { readUpTo, type Entry, type Found, type Opened, type Read } from "./read";
export { TEMP_PREFIX, WorkDir, withWorkDir, type CommitOptions, type TempFile } from "./write";
