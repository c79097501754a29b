import type { Frame } from 'node-av/lib';
import { AV_PICTURE_TYPE_NONE } from 'node-av/constants';
import type { FrameTiming } from './timing/frame-timing.js';
import { SlotDeadline, type SlotDeadlineOptions } from './timing/slot-deadline.js';
import type { Synthesizer } from './synthesis/synthesis.js';
import { SlotPlanner, type RateTarget, type Slot } from './timing/slot-planner.js';
import { type Rational } from '../base/rational.js';

export interface UpconverterOptions {
  synthesizer: Synthesizer;
  /** The fallback on error: takes over for a slot when `synthesizer`, or a deadline fallback other than itself, throws (a model failing mid-stream). */
  fallback?: Synthesizer;
  inputTimeBase: Rational;
  target: RateTarget;
  /** Gaps longer than this (seconds) are filled by repeating frames, not by morphing. Default 1. */
  maxGapSeconds?: number;
  /**
   * Live: every in-between slot has a deadline, and when the synthesizer
   * would miss it a cheaper fallback renders the slot (see `SlotDeadline`).
   * Files have none: they wait for every frame.
   */
  deadline?: DeadlineOptions;
  /**
   * The still-pair path: where its `canRender` says a gap's two frames are
   * still (no sample differs by more than a few levels: a paused game, an
   * idle desktop, a frame the source repeated), it renders that gap's slots
   * instead of the synthesizer and its deadline (`StillPairSynthesizer`:
   * their blend, which is the in-between frame whatever the motion estimate
   * says, for a fraction of its cost).
   */
  still?: Synthesizer;
  /** Monotonic clock in ms (default `performance.now`), for deadlines and timings. */
  now?: () => number;
}

export interface DeadlineOptions extends Omit<SlotDeadlineOptions, 'synthesizers'> {
  /**
   * The deadline fallbacks: cheaper synthesizers, in the order they are
   * tried (the model's rungs, blend, then dup); the last should cost nothing.
   * Before the first slot is due, each that can warm up does, on the first
   * frame (`Synthesizer.warmUp`).
   */
  fallbacks: Synthesizer[];
  /**
   * How long the slots of one gap may take, from the arrival of the input
   * frame that closes it (ms); slot i of n is due at (i+1)/n of it. Default:
   * `budgetGaps` times the gap's own length.
   */
  budgetMs?: number;
  /**
   * Without `budgetMs`, the budget in gaps (default 1: one input frame
   * interval, the least that keeps the engine in real time; more lets a slow
   * slot borrow from the next interval).
   */
  budgetGaps?: number;
}

/** Why a fallback rendered a slot: the synthesizer threw, or would have been late. */
export type FallbackReason = 'error' | 'deadline';

export interface FallbackCount {
  reason: FallbackReason;
  /** The fallback that rendered the slots. */
  synthesizer: string;
  frames: number;
}

export interface RungCount {
  /** The synthesizer that rendered the slots: the chosen one (the ladder's top rung), a rung under it (`frc-ifnet-fast/reuse`), or a fallback. */
  rung: string;
  frames: number;
}

/** One output frame, how it was made, and its timing record (see `FrameTiming`). */
export interface RenderedFrame {
  frame: Frame;
  kind: 'original' | 'interpolated' | 'fallback' | 'repeated';
  /** The synthesizer that made a synthesized frame. */
  synthesizer?: string;
  reason?: FallbackReason;
  timing: FrameTiming;
}

export interface UpconverterStats {
  framesIn: number;
  framesOut: number;
  /** Output frames that are input frames passed through. */
  originals: number;
  /** Output frames synthesized by the synthesizer (the chosen interpolator). */
  interpolated: number;
  /** Output frames synthesized by a fallback: the fallback on error after the interpolator failed, or a cheaper one to meet a deadline. */
  fallbacks: number;
  /** `fallbacks` by reason and fallback. */
  fallbackFrames: FallbackCount[];
  /** Every synthesized slot (`interpolated` + `fallbacks`) by the synthesizer that rendered it, the top rung's own included, in the order first seen. */
  rungFrames: RungCount[];
  /** How long the warm-up of the synthesizers took on the first frame (ms; live only, 0 without one). */
  warmUpMs: number;
  /** Synthesized frames that were ready after their deadline all the same (live only). */
  late: number;
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
 * Output frames belong to the caller, who must `free()` them. It does not
 * own its synthesizers (their creator disposes of them); it frees only the
 * frame it holds, synchronously: `Disposable`, for `using`.
 */
export class Upconverter implements Disposable {
  readonly stats: UpconverterStats = { framesIn: 0, framesOut: 0, originals: 0, interpolated: 0, fallbacks: 0, fallbackFrames: [], rungFrames: [], warmUpMs: 0, late: 0, repeated: 0, dropped: 0 };
  readonly outputTimeBase: Rational;
  private readonly planner: SlotPlanner;
  private readonly maxGapSeconds: number;
  private readonly now: () => number;
  private readonly deadline?: SlotDeadline;
  /** The synthesizer, then its deadline fallbacks: what `SlotDeadline`'s `choice` indexes. */
  private readonly synthesizers: Synthesizer[];
  private previous?: Frame;
  private previousTiming?: FrameTiming;
  private lastGap = 0n;
  private fallbackError?: unknown;
  private warmed = false;

  constructor(private readonly options: UpconverterOptions) {
    this.planner = new SlotPlanner(options.inputTimeBase, options.target);
    this.outputTimeBase = this.planner.outputTimeBase;
    this.maxGapSeconds = options.maxGapSeconds ?? 1;
    this.now = options.now ?? (() => performance.now());
    this.synthesizers = [options.synthesizer, ...(options.deadline?.fallbacks ?? [])];
    if (options.deadline) this.deadline = new SlotDeadline({ ...options.deadline, synthesizers: this.synthesizers.length });
  }

  /** Why the fallback on error was first needed, if it was. */
  get firstFailure(): unknown {
    return this.fallbackError;
  }

  /**
   * Takes the next input frame (and its ownership). Returns the output frames
   * of the gap it closes, in presentation order. `discontinuity` marks a frame
   * that must not be morphed with its predecessor (a scene or format change).
   */
  async push(frame: Frame, discontinuity = false): Promise<Frame[]> {
    return (await this.pushTimed(frame, discontinuity)).map((r) => r.frame);
  }

  /**
   * `push`, with each output frame's kind and timing record. `timing` is the
   * input frame's record so far (its arrival at least; default: now); it is
   * copied into the output frames that derive from it.
   */
  async pushTimed(frame: Frame, discontinuity = false, timing?: FrameTiming): Promise<RenderedFrame[]> {
    this.stats.framesIn++;
    const slots = frame.pts === NO_PTS ? null : this.planner.push(frame.pts);
    if (slots === null) {
      this.stats.dropped++;
      frame.free();
      return [];
    }
    const arrived = timing ?? { arrival: this.now() };
    const previous = this.previous;
    const previousTiming = this.previousTiming ?? arrived;
    this.previous = frame;
    this.previousTiming = arrived;
    if (!previous) {
      if (this.deadline && !this.warmed) await this.warmUp(frame);
      return [];
    }
    // The gap's earlier frame is done with once its slots are rendered: each output holds its own reference.
    using earlier = previous;

    const gap = frame.pts - earlier.pts;
    this.lastGap = gap;
    const morph = !discontinuity && this.planner.seconds(gap) <= this.maxGapSeconds;
    const still = morph && slots.some((slot) => slot.t > 0) && (this.options.still?.canRender?.(earlier, frame, 0.5) ?? false);
    const budgetMs = this.options.deadline?.budgetMs ?? (this.options.deadline?.budgetGaps ?? 1) * this.planner.seconds(gap) * 1000;
    const out: RenderedFrame[] = [];
    try {
      for (const [i, slot] of slots.entries()) {
        const due = arrived.arrival + (budgetMs * (i + 1)) / slots.length;
        out.push(still && slot.t > 0 ? await this.renderStill(slot, earlier, frame, arrived) : await this.render(slot, earlier, frame, morph, previousTiming, arrived, due));
      }
    } catch (err) {
      for (const r of out) r.frame.free();
      throw err;
    }
    return out;
  }

  /**
   * Live: runs every synthesizer that can warm up (a model and its rungs) on
   * the stream's first frame, while the second is on its way: the first slot
   * is due a gap after that one arrives, so the warm-up is paid before it
   * instead of by the first slots of each rung (their first runs allocate for
   * the frame size and are several times slower). A synthesizer that fails
   * here fails again on its first slot, where the fallback on error takes it.
   */
  private async warmUp(frame: Frame): Promise<void> {
    this.warmed = true;
    const start = this.now();
    for (const synthesizer of new Set(this.synthesizers)) {
      await synthesizer.warmUp?.(frame).catch(() => {
        // Reported by the slot that meets it (see above).
      });
    }
    this.stats.warmUpMs = this.now() - start;
  }

  /** Emits the slots covered by the last frame's own display time and lets it go. */
  finish(): Frame[] {
    return this.finishTimed().map((r) => r.frame);
  }

  /** `finish`, with kinds and timing records. */
  finishTimed(): RenderedFrame[] {
    if (!this.previous) return [];
    using last = this.previous;
    const timing = this.previousTiming ?? { arrival: this.now() };
    this.previous = undefined;
    this.previousTiming = undefined;
    const duration = last.duration > 0n ? last.duration : this.lastGap;
    return this.planner.finish(duration).map((slot) => this.original(last, slot, 'repeated', timing));
  }

  [Symbol.dispose](): void {
    this.previous?.free();
    this.previous = undefined;
  }

  private async render(slot: Slot, a: Frame, b: Frame, morph: boolean, ta: FrameTiming, tb: FrameTiming, due: number): Promise<RenderedFrame> {
    if (slot.t === 0) return this.original(a, slot, 'originals', ta);
    // A tie holds the earlier frame, as dup does.
    if (!morph) return slot.t <= 0.5 ? this.original(a, slot, 'repeated', ta) : this.original(b, slot, 'repeated', tb);
    let choice = 0;
    let reason: FallbackReason | undefined;
    if (this.deadline) {
      const skip = this.synthesizers.flatMap((s, i) => (s.canRender && !s.canRender(a, b, slot.t) ? [i] : []));
      const [decision] = this.deadline.processInput({ kind: 'slot', now: this.now(), deadline: due, skip });
      if (decision?.kind === 'render') {
        choice = decision.choice;
        reason = decision.reason;
      }
    }
    const start = this.now();
    let synthesizer = this.synthesizers[choice]!;
    let frame: Frame;
    try {
      frame = await synthesizer.synthesize(a, b, slot.t);
    } catch (err) {
      // Any synthesizer but the fallback on error itself (the model, or `fast` as the deadline fallback of a slower one) hands the slot to it.
      if (!this.options.fallback || synthesizer === this.options.fallback) throw err;
      this.fallbackError ??= err;
      synthesizer = this.options.fallback;
      reason = 'error';
      frame = await synthesizer.synthesize(a, b, slot.t);
    }
    const end = this.now();
    if (this.deadline && reason !== 'error') {
      for (const out of this.deadline.processInput({ kind: 'done', choice, ms: end - start, now: end })) if (out.kind === 'late') this.stats.late++;
    }
    if (reason) {
      this.stats.fallbacks++;
      this.countFallback(reason, synthesizer.name);
    } else {
      this.stats.interpolated++;
    }
    this.countRung(synthesizer.name);
    return {
      frame: stamp(frame, slot, this.outputTimeBase),
      kind: reason ? 'fallback' : 'interpolated',
      synthesizer: synthesizer.name,
      ...(reason ? { reason } : {}),
      timing: { ...tb, interpStart: start, interpEnd: end },
    };
  }

  /** A slot of a still gap, by the still-pair path: no deadline, since it costs a fraction of any rung. */
  private async renderStill(slot: Slot, a: Frame, b: Frame, tb: FrameTiming): Promise<RenderedFrame> {
    const still = this.options.still!;
    const start = this.now();
    const frame = await still.synthesize(a, b, slot.t);
    const end = this.now();
    this.stats.interpolated++;
    this.countRung(still.name);
    return { frame: stamp(frame, slot, this.outputTimeBase), kind: 'interpolated', synthesizer: still.name, timing: { ...tb, interpStart: start, interpEnd: end } };
  }

  /** One more synthesized output frame, by `name`. */
  private countRung(name: string): void {
    const rung = this.stats.rungFrames.find((r) => r.rung === name);
    if (rung) rung.frames++;
    else this.stats.rungFrames.push({ rung: name, frames: 1 });
    this.stats.framesOut++;
  }

  private countFallback(reason: FallbackReason, synthesizer: string): void {
    const entry = this.stats.fallbackFrames.find((f) => f.reason === reason && f.synthesizer === synthesizer);
    if (entry) entry.frames++;
    else this.stats.fallbackFrames.push({ reason, synthesizer, frames: 1 });
  }

  private original(frame: Frame, slot: Slot, counter: 'originals' | 'repeated', timing: FrameTiming): RenderedFrame {
    // clone() takes a new reference to the same pixels: no copy.
    const out = frame.clone();
    if (!out) throw new Error('out of memory while referencing a frame');
    this.stats[counter]++;
    this.stats.framesOut++;
    const now = this.now();
    return { frame: stamp(out, slot, this.outputTimeBase), kind: counter === 'originals' ? 'original' : 'repeated', timing: { ...timing, interpStart: now, interpEnd: now } };
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
