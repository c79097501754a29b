import type { Frame, Packet } from 'node-av/lib';
import type { Rational } from '../base/rational.js';
import type { EncodedItem, LiveSource } from '../ingest/live-source.js';
import type { SourceItem } from '../ingest/read-demuxed.js';
import type { Admission } from '../pipeline/frame-pipeline.js';
import { ArrivalClock } from './arrival-clock.js';
import { BitrateGuard } from './bitrate-guard.js';
import { RateGrid } from './rate-grid.js';
import { SizeLimit } from './size-limit.js';
import { TimelineRepair, type TimestampClock } from './timeline-repair.js';

export interface LiveLimits {
  /** Largest video accepted; a larger frame fails the stream (and drops its publisher) with the reason. */
  maxWidth?: number;
  maxHeight?: number;
  /** Largest media bitrate (video plus audio, 5 s average) the publisher may send, kbit/s; over it the stream fails with the reason. */
  maxBitrateKbps?: number;
}

const NO_PTS = -0x8000000000000000n;

/**
 * The live-only policies between a publisher and the frame pipeline, each a
 * small pure object: the bitrate limit and the size limit (over either, the
 * stream fails with the reason), the arrival clock (a frame's timing starts
 * when its data came in), timeline repair (jumps and resets folded into one
 * timeline, or restamped on the arrival clock when they are no clock at all)
 * and the rate grid (timestamps snapped to the announced rate).
 */
export class LiveAdmission {
  /** The time base of admitted frames: the grid's, when the publisher announced a rate, else the source's. */
  readonly timeBase: Rational;
  private readonly maxBitrateKbps?: number;
  private readonly size: SizeLimit;
  private readonly clock: ArrivalClock;
  private readonly timeline: TimelineRepair;
  /** Without an announced rate (WebRTC), timestamps are used as they come. */
  private readonly grid?: RateGrid;
  private readonly videoTimeBase: Rational;
  /** The last audio pts given out on the arrival clock. */
  private lastAudioPts?: bigint;

  constructor(
    source: Pick<LiveSource, 'video' | 'frameRate'>,
    limits: LiveLimits,
    private readonly now: () => number,
    /** Hears once that the publisher's timestamps were dropped for the arrival clock, and why. */
    private readonly onArrivalClock?: (reason: string) => void,
  ) {
    const { timeBase } = source.video;
    this.videoTimeBase = timeBase;
    this.maxBitrateKbps = limits.maxBitrateKbps;
    this.size = new SizeLimit(limits.maxWidth, limits.maxHeight);
    this.clock = new ArrivalClock(timeBase);
    this.timeline = new TimelineRepair(timeBase, undefined, source.frameRate);
    if (source.frameRate) this.grid = new RateGrid(timeBase, source.frameRate);
    this.timeBase = this.grid?.timeBase ?? timeBase;
  }

  /**
   * The source's decoded video and audio, for the pipeline: the bitrate
   * limit is checked on every item (over it, the item is freed and the
   * reason thrown), and each encoded frame is noted on the arrival clock,
   * then handed to `onEncoded` (the viewers of the original).
   */
  async *items(source: LiveSource, onEncoded: (item: EncodedItem) => void): AsyncGenerator<SourceItem> {
    // Its window starts with the reading, not while the engine was still loading.
    const bitrate = this.maxBitrateKbps !== undefined ? new BitrateGuard(this.maxBitrateKbps * 1000, this.now()) : undefined;
    for await (const item of source.read()) {
      const over = bitrate?.exceeded(source.mediaBytes, this.now());
      if (over !== undefined) {
        if (item.kind === 'video') item.frame.free();
        if (item.kind === 'audio') item.packet.free();
        throw new Error(over);
      }
      if (item.kind === 'audio' && this.timestamps === 'arrival') this.restampAudio(item.packet);
      if (item.kind !== 'encoded') {
        yield item;
        continue;
      }
      this.clock.note(item, this.now());
      onEncoded(item);
    }
  }

  /**
   * The pipeline's `admit`: refuses a frame over the size limit (throws the
   * reason), finds its arrival, then folds its pts into one timeline and
   * onto the grid (in place). The frame stays the caller's.
   */
  admit(frame: Frame): Admission {
    const refused = this.size.check(frame.width, frame.height);
    if (refused !== undefined) throw new Error(refused);
    const arrival = this.clock.take(frame.pts);
    let jumped = false;
    if (frame.pts !== NO_PTS) {
      const clock = this.timeline.clock;
      ({ pts: frame.pts, jumped } = this.timeline.repair(frame.pts, arrival));
      if (clock !== this.timeline.clock) {
        this.onArrivalClock?.(this.timeline.arrivalReason);
      }
    }
    this.grid?.restamp(frame);
    return { arrival, discontinuity: jumped };
  }

  /** `source` while the publisher's timestamps are used (repaired), `arrival` once they proved unusable. */
  get timestamps(): TimestampClock {
    return this.timeline.clock;
  }

  /** An audio packet (in place) on the arrival clock the video went to, kept increasing by its duration. */
  private restampAudio(packet: Packet): void {
    const video = this.timeline.ptsAt(this.now());
    const { num, den } = packet.timeBase;
    if (video === undefined || num <= 0) return;
    let pts = (video * BigInt(this.videoTimeBase.num) * BigInt(den)) / (BigInt(this.videoTimeBase.den) * BigInt(num));
    if (this.lastAudioPts !== undefined && pts < this.lastAudioPts + (packet.duration > 0n ? packet.duration : 1n)) {
      pts = this.lastAudioPts + (packet.duration > 0n ? packet.duration : 1n);
    }
    packet.pts = pts;
    packet.dts = pts;
    this.lastAudioPts = pts;
  }
}
