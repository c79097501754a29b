/**
 * Events per second over the last few seconds of wall time: the frame rates
 * a live stream shows in its stats. A lifetime average would hide a stream
 * that has just started dropping; an instantaneous rate would flicker with
 * every late frame.
 *
 * Pure: the caller passes the time (ms), so tests need no clock.
 */
export class RateMeter {
  private readonly times: number[] = [];

  constructor(private readonly windowMs = 2000) {}

  /** Counts one event at `now`. */
  tick(now: number): void {
    this.times.push(now);
    this.prune(now);
  }

  /**
   * Events per second in the window ending at `now`: the intervals between
   * the events it holds over their span, so a stream that started a moment
   * ago is measured over its life, not the whole window. 0 with fewer than
   * two events, or when the last one is a window old (the stream stalled).
   */
  rate(now: number): number {
    this.prune(now);
    const n = this.times.length;
    if (n < 2) return 0;
    const span = this.times[n - 1]! - this.times[0]!;
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= now - this.windowMs) drop++;
    if (drop) this.times.splice(0, drop);
  }
}
