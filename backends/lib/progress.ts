/** Files and bytes done, on a terminal (a log line elsewhere), for transfers worth watching. */
import type { Logger, Progress } from "../../src/log";
import { formatSize } from "../../src/units";

/** Below both, a transfer is quick: no meter. */
const MIN_FILES = 100;
const MIN_BYTES = 32 * 1024 ** 2;
const EVERY_MS = 200;

export class Meter {
  private p?: Progress;
  private files = 0;
  private bytes = 0;
  private last = 0;
  private readonly total: number;

  constructor(
    log: Logger,
    private readonly verb: string,
    private readonly sizes: readonly number[],
    private readonly external?: (msg: string) => void,
  ) {
    this.total = sizes.reduce((n, s) => n + s, 0);
    if (sizes.length < MIN_FILES && this.total < MIN_BYTES) return;
    if (!external) this.p = log.progress(this.text());
    else external(this.text());
  }

  private text(): string {
    return `${this.verb} ${this.files}/${this.sizes.length} files, ${formatSize(this.bytes)} of ${formatSize(this.total)}`;
  }

  add(bytes: number): void {
    this.files++;
    this.bytes += bytes;
    if (!this.p && !this.external) return;
    if (Date.now() - this.last < EVERY_MS) return;
    this.last = Date.now();
    if (this.p) this.p.update(this.text());
    else this.external!(this.text());
  }

  done(): void {
    this.p?.done(this.text());
    this.p = undefined;
  }
}
