/**
 * How long a connection that dropped (a pulled source, an RTMP push) waits
 * before it tries its URL again: the first wait `firstMs`, doubling after
 * each failure up to `maxMs`; a connection that stayed up `stableMs` or
 * longer starts the doubling over.
 *
 * Pure: the caller passes the times (ms).
 */
export class Backoff {
  private nextMs: number;
  private upSince?: number;

  constructor(
    private readonly firstMs = 1000,
    private readonly maxMs = 30_000,
    private readonly stableMs = 60_000,
  ) {
    this.nextMs = firstMs;
  }

  /** The connection is up (connected and delivering) since `at`. */
  connected(at: number): void {
    this.upSince = at;
  }

  /** The connection dropped, or a try failed, at `at`: how long to wait before the next try. */
  failed(at: number): number {
    if (this.upSince !== undefined && at - this.upSince >= this.stableMs) this.nextMs = this.firstMs;
    this.upSince = undefined;
    const wait = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.maxMs);
    return wait;
  }
}
