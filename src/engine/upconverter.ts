import type { Frame } from 'node-av/lib';
import { AV_PICTURE_TYPE_NONE } from 'node-av/constants';
import type { Synthesizer } from './synthesis.js';
import { SlotPlanner, type Rational, type RateTarget, type Slot } from './slot-planner.js';

export interface UpconverterOptions {
  synthesizer: Synthesizer;
  /** Takes over for a slot when `synthesizer` throws (a model failing mid-stream). */
  fallback?: Synthesizer;
  inputTimeBase: Rational;
  target: RateTarget;
  /** Gaps longer than this (seconds) are filled by repeating frames, not by morphing. Default 1. */
  maxGapSeconds?: number;
}

export interface UpconverterStats {
  framesIn: number;
  framesOut: number;
  /** Output frames that are input frames passed through. */
  originals: number;
  /** Output frames synthesized by the synthesizer (the chosen interpolator). */
  interpolated: number;
  /** Output frames synthesized by the fallback after the interpolator failed. */
  fallbacks: number;
  /** Output frames that repeat an input frame: across a discontinuity, a long gap, or the last frame's tail. */
  repeated: number;
  /** Input frames dropped because their timestamp did not move forward. */
  dropped: number;
}

const NO_PTS = -0x8000000000000000n;

/**
 * The engine core: input frames in, output frames out at the target rate.
 * Input frames pass through untouched at their own slots; each slot between
 * two frames is synthesized at its timestep. Only the frame pair around the
 * current gap is held.
 *
 * Output frames belong to the caller, who must `free()` them.
 */
export class Upconverter implements Disposable {
  readonly stats: UpconverterStats = { framesIn: 0, framesOut: 0, originals: 0, interpolated: 0, fallbacks: 0, repeated: 0, dropped: 0 };
  readonly outputTimeBase: Rational;
  private readonly planner: SlotPlanner;
  private readonly maxGapSeconds: number;
  private previous?: Frame;
  private lastGap = 0n;
  private fallbackError?: unknown;

  constructor(private readonly options: UpconverterOptions) {
    this.planner = new SlotPlanner(options.inputTimeBase, options.target);
    this.outputTimeBase = this.planner.outputTimeBase;
    this.maxGapSeconds = options.maxGapSeconds ?? 1;
  }

  /** Why the fallback was first needed, if it was. */
  get firstFailure(): unknown {
    return this.fallbackError;
  }

  /**
   * Takes the next input frame (and its ownership). Returns the output frames
   * of the gap it closes, in presentation order. `discontinuity` marks a frame
   * that must not be morphed with its predecessor (a scene or format change).
   */
  async push(frame: Frame, discontinuity = false): Promise<Frame[]> {
    this.stats.framesIn++;
    const slots = frame.pts === NO_PTS ? null : this.planner.push(frame.pts);
    if (slots === null) {
      this.stats.dropped++;
      frame.free();
      return [];
    }
    const previous = this.previous;
    this.previous = frame;
    if (!previous) return [];

    const gap = frame.pts - previous.pts;
    this.lastGap = gap;
    const morph = !discontinuity && this.planner.seconds(gap) <= this.maxGapSeconds;
    const out: Frame[] = [];
    try {
      for (const slot of slots) out.push(await this.render(slot, previous, frame, morph));
    } catch (err) {
      for (const f of out) f.free();
      throw err;
    } finally {
      previous.free();
    }
    return out;
  }

  /** Emits the slots covered by the last frame's own display time and lets it go. */
  finish(): Frame[] {
    const last = this.previous;
    if (!last) return [];
    this.previous = undefined;
    const duration = last.duration > 0n ? last.duration : this.lastGap;
    const out = this.planner.finish(duration).map((slot) => this.original(last, slot, 'repeated'));
    last.free();
    return out;
  }

  [Symbol.dispose](): void {
    this.previous?.free();
    this.previous = undefined;
  }

  private async render(slot: Slot, a: Frame, b: Frame, morph: boolean): Promise<Frame> {
    if (slot.t === 0) return this.original(a, slot, 'originals');
    if (!morph) return this.original(slot.t <= 0.5 ? a : b, slot, 'repeated'); // a tie holds the earlier frame, as dup does
    let frame: Frame;
    try {
      frame = await this.options.synthesizer.synthesize(a, b, slot.t);
      this.stats.interpolated++;
    } catch (err) {
      if (!this.options.fallback) throw err;
      this.fallbackError ??= err;
      frame = await this.options.fallback.synthesize(a, b, slot.t);
      this.stats.fallbacks++;
    }
    this.stats.framesOut++;
    return stamp(frame, slot, this.outputTimeBase);
  }

  private original(frame: Frame, slot: Slot, counter: 'originals' | 'repeated' | 'interpolated'): Frame {
    // clone() takes a new reference to the same pixels: no copy.
    const out = frame.clone();
    if (!out) throw new Error('out of memory while referencing a frame');
    this.stats[counter]++;
    this.stats.framesOut++;
    return stamp(out, slot, this.outputTimeBase);
  }

}

function stamp(frame: Frame, slot: Slot, timeBase: Rational): Frame {
  frame.pts = slot.pts;
  frame.duration = slot.duration;
  frame.timeBase = timeBase as Frame['timeBase'];
  // Decoded picture types would otherwise force the encoder's frame types.
  frame.pictType = AV_PICTURE_TYPE_NONE;
  return frame;
}
