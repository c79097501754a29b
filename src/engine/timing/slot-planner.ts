import type { Rational } from '../../base/rational.js';
/**
 * Output timing: which output frames ("slots") fall in the gap between two
 * input frames, and at which timestep t each must be synthesized.
 *
 * All slot positions are computed in exact integer arithmetic from the input
 * timestamps, never by accumulating a float frame interval, so a long stream
 * cannot drift. Variable-frame-rate input keeps its timing: every gap is cut
 * according to its own length.
 */
/** `{ factor: K }` puts K slots in every input gap; `{ fps }` places slots on a fixed output grid. */
export type RateTarget = { factor: number } | { fps: Rational };

export interface Slot {
  /** Presentation time in the planner's `outputTimeBase`. */
  pts: bigint;
  /** Display time until the next slot, in `outputTimeBase`. */
  duration: bigint;
  /** Position between the earlier (0) and later (1) input frame; 0 means "the earlier frame itself". */
  t: number;
}

export class SlotPlanner {
  readonly outputTimeBase: Rational;
  private readonly inputTimeBase: Rational;
  private readonly target: RateTarget;
  private previous?: bigint;

  constructor(inputTimeBase: Rational, target: RateTarget) {
    checkRational(inputTimeBase, 'input time base');
    this.inputTimeBase = inputTimeBase;
    this.target = target;
    if ('factor' in target) {
      if (!Number.isInteger(target.factor) || target.factor < 1) {
        throw new RangeError(`--factor must be a whole number ≥ 1, got ${target.factor}`);
      }
      // Slot k of a gap sits at p0 + k·(p1−p0)/K, an integer in a K-times finer time base.
      this.outputTimeBase = { num: inputTimeBase.num, den: inputTimeBase.den * target.factor };
    } else {
      checkRational(target.fps, '--fps');
      this.outputTimeBase = { num: target.fps.den, den: target.fps.num };
    }
  }

  /**
   * Registers the next input frame. Returns the slots in [previous, pts),
   * i.e. those that need the previous frame and this one, or `null` when
   * `pts` does not move forward (such a frame must be dropped).
   */
  push(pts: bigint): Slot[] | null {
    const previous = this.previous;
    if (previous !== undefined && pts <= previous) return null;
    this.previous = pts;
    return previous === undefined ? [] : this.slotsBetween(previous, pts);
  }

  /**
   * Slots covered by the last frame's own display time, [last, last + duration).
   * With no known duration (a single-frame input) the last frame still gets
   * the first slot at or after it, so it is never lost.
   */
  finish(duration: bigint): Slot[] {
    if (this.previous === undefined) return [];
    const slots = this.slotsBetween(this.previous, this.previous + (duration > 0n ? duration : 1n));
    return (duration > 0n ? slots : slots.slice(0, 1)).map((s) => ({ ...s, t: 0 }));
  }

  /** Gap length in seconds, for callers that refuse to interpolate across long gaps. */
  seconds(ticks: bigint): number {
    return (Number(ticks) * this.inputTimeBase.num) / this.inputTimeBase.den;
  }

  private slotsBetween(p0: bigint, p1: bigint): Slot[] {
    const gap = p1 - p0;
    if ('factor' in this.target) {
      const k = BigInt(this.target.factor);
      const slots: Slot[] = [];
      for (let i = 0n; i < k; i++) slots.push({ pts: p0 * k + i * gap, duration: gap, t: Number(i) / Number(k) });
      return slots;
    }
    // Slot n is at n·fps.den/fps.num seconds; input tick p at p·tb.num/tb.den seconds.
    // Bring both to the common unit 1/(tb.den·fps.num) seconds: slot n → n·fps.den·tb.den, tick p → p·tb.num·fps.num.
    const slotUnit = BigInt(this.target.fps.den) * BigInt(this.inputTimeBase.den);
    const tickUnit = BigInt(this.inputTimeBase.num) * BigInt(this.target.fps.num);
    const first = ceilDiv(p0 * tickUnit, slotUnit);
    const end = ceilDiv(p1 * tickUnit, slotUnit);
    const span = Number(gap * tickUnit);
    const slots: Slot[] = [];
    for (let n = first; n < end; n++) {
      slots.push({ pts: n, duration: 1n, t: Number(n * slotUnit - p0 * tickUnit) / span });
    }
    return slots;
  }
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b < a ? q + 1n : q; // BigInt division truncates toward zero
}

function checkRational(r: Rational, what: string): void {
  if (!Number.isInteger(r.num) || !Number.isInteger(r.den) || r.num <= 0 || r.den <= 0) {
    throw new RangeError(`${what} must be a positive rational, got ${r.num}/${r.den}`);
  }
}

/** Parses "60", "59.94", "30000/1001" into an exact rational. */
export function parseRate(text: string): Rational {
  const frac = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (frac) {
    const r = { num: Number(frac[1]), den: Number(frac[2]) };
    checkRational(r, 'rate');
    return r;
  }
  if (!/^\d+(\.\d+)?$/.test(text.trim())) throw new RangeError(`not a frame rate: "${text}"`);
  const value = Number(text);
  // NTSC rates written as decimals mean the exact 1000/1001 family.
  for (const base of [24, 30, 48, 60, 120]) {
    if (Math.abs(value - (base * 1000) / 1001) < 0.01) return { num: base * 1000, den: 1001 };
  }
  const decimals = text.includes('.') ? text.trim().split('.')[1]!.length : 0;
  const den = 10 ** decimals;
  const r = { num: Math.round(value * den), den };
  checkRational(r, 'rate');
  return r;
}
