/** Content hashes: sha256 (what we compare) and md5 (what a single-part S3 ETag is), in one pass. */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

export interface Hashes {
  sha256: string;
  md5: string;
}

export function hashBytes(bytes: Uint8Array): Hashes {
  return {
    sha256: createHash("sha256").update(bytes).digest("hex"),
    md5: createHash("md5").update(bytes).digest("hex"),
  };
}

export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<Hashes> {
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  for await (const chunk of stream) {
    sha.update(chunk);
    md5.update(chunk);
  }
  return { sha256: sha.digest("hex"), md5: md5.digest("hex") };
}

/** Hash an open file from its start; the handle stays open (the caller may upload from it next). */
export function hashHandle(fh: FileHandle): Promise<Hashes> {
  return hashStream(fh.createReadStream({ start: 0, autoClose: false }));
}
