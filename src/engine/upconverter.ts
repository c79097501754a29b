import type { Frame } from 'node-av/lib';
import { AV_PICTURE_TYPE_NONE } from 'node-av/constants';
import { DupInterpolator } from './classic-interpolators.js';
import type { Interpolator, RgbImage } from './interpolator.js';
import { RgbConverter } from './rgb-convert.js';
import { SlotPlanner, type Rational, type RateTarget, type Slot } from './slot-planner.js';

export interface UpconverterOptions {
  interpolator: Interpolator;
  /** Takes over for a slot when `interpolator` throws (a model failing mid-stream). */
  fallback?: Interpolator;
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
  /** Output frames synthesized by the interpolator. */
  interpolated: number;
  /** Output frames synthesized by the fallback after the interpolator failed. */
  fallbacks: number;
  /** Output frames that repeat an input frame: across a discontinuity, a long gap, or the last frame's tail. */
  repeated: number;
  /** Input frames dropped because their timestamp did not move forward. */
  dropped: number;
}

/** An input frame and, once a slot needed it, its RGB tensor. */
interface Held {
  frame: Frame;
  rgb?: RgbImage;
}

const NO_PTS = -0x8000000000000000n;

/**
 * The engine core: input frames in, output frames out at the target rate.
 * Input frames pass through untouched at their own slots; each slot between
 * two frames is synthesized at its timestep. Only the frame pair around the
 * current gap is held, each converted to RGB once.
 *
 * Output frames belong to the caller, who must `free()` them.
 */
export class Upconverter implements Disposable {
  readonly stats: UpconverterStats = { framesIn: 0, framesOut: 0, originals: 0, interpolated: 0, fallbacks: 0, repeated: 0, dropped: 0 };
  readonly outputTimeBase: Rational;
  private readonly planner: SlotPlanner;
  private readonly maxGapSeconds: number;
  private previous?: Held;
  private lastGap = 0n;
  private fallbackError?: unknown;

  private constructor(
    private readonly options: UpconverterOptions,
    private readonly converter: RgbConverter,
  ) {
    this.planner = new SlotPlanner(options.inputTimeBase, options.target);
    this.outputTimeBase = this.planner.outputTimeBase;
    this.maxGapSeconds = options.maxGapSeconds ?? 1;
  }

  static async create(options: UpconverterOptions): Promise<Upconverter> {
    return new Upconverter(options, await RgbConverter.create(options.interpolator.padMultiple));
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
    const current: Held = { frame };
    this.previous = current;
    if (!previous) return [];

    const gap = frame.pts - previous.frame.pts;
    this.lastGap = gap;
    const morph = !discontinuity && this.planner.seconds(gap) <= this.maxGapSeconds;
    const out: Frame[] = [];
    try {
      for (const slot of slots) out.push(await this.render(slot, previous, current, morph));
    } catch (err) {
      for (const frame of out) frame.free();
      throw err;
    } finally {
      this.release(previous);
    }
    return out;
  }

  /** Emits the slots covered by the last frame's own display time and lets it go. */
  finish(): Frame[] {
    const last = this.previous;
    if (!last) return [];
    this.previous = undefined;
    const duration = last.frame.duration > 0n ? last.frame.duration : this.lastGap;
    const out = this.planner.finish(duration).map((slot) => this.original(last.frame, slot, 'repeated'));
    this.release(last);
    return out;
  }

  [Symbol.dispose](): void {
    if (this.previous) this.release(this.previous);
    this.previous = undefined;
    this.converter[Symbol.dispose]();
  }

  private async render(slot: Slot, a: Held, b: Held, morph: boolean): Promise<Frame> {
    if (slot.t === 0) return this.original(a.frame, slot, 'originals');
    const nearer = slot.t <= 0.5 ? a.frame : b.frame; // a tie holds the earlier frame, as dup does
    if (!morph) return this.original(nearer, slot, 'repeated');
    // dup needs no pixels: the nearer frame goes out as it is.
    if (this.options.interpolator instanceof DupInterpolator) return this.original(nearer, slot, 'interpolated');

    a.rgb ??= await this.converter.toRgb(a.frame);
    b.rgb ??= await this.converter.toRgb(b.frame);
    let image: RgbImage;
    try {
      image = (await this.options.interpolator.interpolate(a.rgb, b.rgb, slot.t)).frame;
      this.stats.interpolated++;
    } catch (err) {
      if (!this.options.fallback) throw err;
      this.fallbackError ??= err;
      image = (await this.options.fallback.interpolate(a.rgb, b.rgb, slot.t)).frame;
      this.stats.fallbacks++;
    }
    const frame = await this.converter.fromRgb(image, a.frame);
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

  private release(held: Held): void {
    held.frame.free();
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
