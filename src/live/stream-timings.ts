import { addedLatencyMs, type FrameTiming, type Stage, stageMs } from '../engine/timing/frame-timing.js';
import { Histogram, type HistogramSnapshot, LATENCY_BUCKETS, STAGE_BUCKETS } from '../metrics/histogram.js';

export interface TimedOutput {
  /** Whether the output frame is an input frame passed through (its latency is the stream's `latencyMs`). */
  original: boolean;
  /** Whether the engine synthesized it (interpolated or by a fallback): only those say what interpolating costs. */
  synthesized: boolean;
  timing: FrameTiming;
}

export interface StreamTimingSnapshot {
  /** Seconds per stage, per frame: decode and features per input frame, interpolate per synthesized frame, encode per output frame. */
  stages: Record<Stage, HistogramSnapshot>;
  /** Added latency per output frame, seconds: sent − arrival of the input frame it derives from. */
  addedLatency: HistogramSnapshot;
}

/**
 * The timing records of one stream's output frames, as they leave: into
 * histograms (for `/metrics`), and the last few hundred kept as they are
 * (for `latencyMs` and to show how the stages overlapped).
 *
 * Pure: the caller passes the time.
 */
export class StreamTimings {
  private readonly stages: Record<Stage, Histogram> = {
    decode: new Histogram(STAGE_BUCKETS),
    features: new Histogram(STAGE_BUCKETS),
    interpolate: new Histogram(STAGE_BUCKETS),
    encode: new Histogram(STAGE_BUCKETS),
  };
  private readonly latency = new Histogram(LATENCY_BUCKETS);
  private readonly records: TimedOutput[] = [];
  /** The last arrival whose decode was counted: an input frame leaves as several output frames, and is decoded once. */
  private lastDecoded?: number;

  constructor(private readonly keep = 512) {}

  /** An output frame was sent; its record is complete. */
  record(output: TimedOutput): void {
    const { timing } = output;
    if (timing.arrival !== this.lastDecoded) {
      this.lastDecoded = timing.arrival;
      observeMs(this.stages.decode, stageMs(timing, 'decode'));
      observeMs(this.stages.features, stageMs(timing, 'features'));
    }
    if (output.synthesized) observeMs(this.stages.interpolate, stageMs(timing, 'interpolate'));
    observeMs(this.stages.encode, stageMs(timing, 'encode'));
    observeMs(this.latency, addedLatencyMs(timing));
    this.records.push(output);
    if (this.records.length > this.keep) this.records.shift();
  }

  /** The kept records, oldest first. */
  recent(): readonly TimedOutput[] {
    return this.records;
  }

  /** The median added latency of pass-through frames sent in the last `windowMs` before `now` (whole ms). */
  medianOriginalLatencyMs(now: number, windowMs = 2000): number | undefined {
    const values = this.records
      .filter((r) => r.original && r.timing.sent !== undefined && now - r.timing.sent <= windowMs)
      .map((r) => addedLatencyMs(r.timing)!)
      .sort((a, b) => a - b);
    return values.length === 0 ? undefined : Math.round(values[values.length >> 1]!);
  }

  snapshot(): StreamTimingSnapshot {
    return {
      stages: { decode: this.stages.decode.snapshot(), features: this.stages.features.snapshot(), interpolate: this.stages.interpolate.snapshot(), encode: this.stages.encode.snapshot() },
      addedLatency: this.latency.snapshot(),
    };
  }
}

function observeMs(histogram: Histogram, ms: number | undefined): void {
  if (ms !== undefined) histogram.observe(ms / 1000);
}
