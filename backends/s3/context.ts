/** What the S3 modules share for one backend instance (types only: no behaviour lives here). */
import type * as S3 from "@aws-sdk/client-s3";
import type { Settings } from "../../src/config";
import type { Logger } from "../../src/log";
import type { Ancestors } from "../lib/ancestors";
import type { Manifest } from "./manifest";

export type Sdk = typeof S3;

/** A listed object, with its path relative to the prefix. */
export type Obj = S3._Object & { rel: string };

export interface S3Ctx {
  readonly sdk: Sdk;
  readonly client: S3.S3Client;
  readonly bucket: string;
  /** "" or "some/prefix/" (always ends with a slash). */
  readonly prefix: string;
  /** `s3://bucket/prefix/`, for messages. */
  readonly remote: string;
  /** The custom endpoint; undefined for AWS itself. */
  readonly endpoint: string | undefined;
  readonly dir: string;
  readonly s: Settings;
  readonly log: Logger;
  readonly manifest: Manifest;
  /** The notebooks' bytes as last synced (the common ancestor of a later merge). */
  readonly ancestors: Ancestors;
  /** The backend's capabilities: `conflicts` is learnt at the first save, `history` once versioning is asked. */
  readonly caps: { conflicts?: boolean; history: boolean };
  /** Paths the last plan skipped (unreadable, …): looked at again at the next one, whatever the change set. */
  skipped: Set<string>;
  /** Whether the bucket keeps versions; asked once. */
  versioned?: boolean;
  /** Version ids the store gave this save's uploads, by key (a versioned bucket): the save's record names them. */
  versionIds: Map<string, string>;
  /** Save records not written yet (the store failed): the next save writes them first. */
  pendingRecords: unknown[];
}
