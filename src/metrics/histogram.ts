/**
 * A Prometheus-style histogram: cumulative counts under fixed upper bounds,
 * plus the sum and count of every observation. Bounded memory whatever the
 * stream's length, and mergeable by whoever scrapes it.
 */
export interface HistogramSnapshot {
  /** Upper bounds (`le`), ascending; `+Inf` is implied. */
  bounds: readonly number[];
  /** Observations ≤ each bound (cumulative), one per bound. */
  cumulative: number[];
  count: number;
  sum: number;
}

/** Per-stage times, in seconds: 1 ms to 1 s. */
export const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.2, 0.5, 1];
/** Added latency, in seconds: 10 ms to 10 s (HLS viewers are not counted here, only the server's own delay). */
export const LATENCY_BUCKETS = [0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10];

export class Histogram {
  private readonly counts: number[];
  private count = 0;
  private sum = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError('histogram bounds must be ascending');
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.count++;
    this.sum += value;
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.counts[i]!++;
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    return { bounds: this.bounds, cumulative: this.counts.map((c) => (running += c)), count: this.count, sum: this.sum };
  }
}
