/**
 * Watches a publisher's media bitrate against a limit, averaged over a
 * sliding window (5 s by default), so a keyframe or a short burst does not
 * trip it but a publisher that keeps sending more than allowed does.
 *
 * Pure: it is fed the publisher's cumulative byte count and the time, and
 * answers with the average rate when it is over the limit. Until a whole
 * window has passed, the time before the first byte counts as silence,
 * so a stream's first keyframe never looks like a flood.
 */
export class BitrateGuard {
  /** Cumulative byte counts with their times, oldest first, spanning at most one window (plus one sample before it). */
  private readonly samples: { at: number; bytes: number }[];

  constructor(
    /** The limit, bits per second. */
    readonly maxBitsPerSecond: number,
    start: number,
    readonly windowMs = 5000,
  ) {
    this.samples = [{ at: start, bytes: 0 }];
  }

  /**
   * Notes that `totalBytes` have come in by `now` (ms); returns the average
   * rate over the last window in bits per second when it exceeds the limit.
   */
  check(totalBytes: number, now: number): number | undefined {
    const last = this.samples[this.samples.length - 1]!;
    // One sample per 100 ms is plenty for a 5 s average, and keeps the list short.
    if (now - last.at >= 100) this.samples.push({ at: now, bytes: totalBytes });
    // Keep the newest sample at or before the window's start: the average spans the whole window.
    while (this.samples.length > 2 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const rate = ((totalBytes - first.bytes) * 8 * 1000) / Math.max(now - first.at, this.windowMs);
    return rate > this.maxBitsPerSecond ? rate : undefined;
  }

  /** `check`, answered with the reason to drop the publisher when it is over the limit. */
  exceeded(totalBytes: number, now: number): string | undefined {
    const rate = this.check(totalBytes, now);
    if (rate === undefined) return undefined;
    return `the publisher sends ${(rate / 1e6).toFixed(1)} Mbit/s (5 s average), over this stream's limit of ${formatKbps(this.maxBitsPerSecond / 1000)}`;
  }
}

/** A kbit/s limit as people say it: `800 kbit/s`, `6 Mbit/s`. */
export function formatKbps(kbps: number): string {
  return kbps >= 1000 ? `${kbps / 1000} Mbit/s` : `${kbps} kbit/s`;
}
