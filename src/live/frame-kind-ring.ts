import type { RenderedFrame } from '../engine/upconverter.js';

/** What the page's frame inspector badges an output frame: the input passed through, a model rung's in-between frame, blend's, or a repeat. */
export type FrameBadge = 'original' | 'model' | 'still' | 'blend' | 'dup';

/** One output frame as the inspector sees it. */
export interface FrameKind {
  /** Its media time, seconds (the output pts). */
  time: number;
  /** The RTP timestamp WebRTC viewers got it under (90 kHz), when it went to any; the page matches its captured frames on it. */
  rtp?: number;
  badge: FrameBadge;
  /** The synthesizer that rendered an in-between frame (the model's rung, blend or dup). */
  rung?: string;
}

/**
 * The badge of an output frame from how the engine made it. A repeated
 * frame (across a cut, a long gap, the tail) is what dup would have made,
 * so it is badged dup; an in-between frame is named by its rung, and every
 * rung but blend, dup and the still-pair path (`still`: the blend of a pair
 * that did not change) is a model's.
 */
export function frameBadge(kind: RenderedFrame['kind'], synthesizer?: string): FrameBadge {
  if (kind === 'original') return 'original';
  if (kind === 'repeated' || synthesizer === 'dup') return 'dup';
  if (synthesizer === 'blend') return 'blend';
  if (synthesizer === 'still') return 'still';
  return 'model';
}

const NO_RTP = -1;

/**
 * The last `capacity` output frames of a stream, each with its badge and RTP
 * timestamp, for the page's frame inspector. Every output frame is recorded
 * (the page asks after the fact, for frames it has already shown), so it is
 * built for that: fixed arrays allocated once, and a rung named by an index
 * into the few names seen, so it holds no object per frame and its memory
 * never grows. Nothing is read until a client asks (`list`).
 *
 * Pure: no clock, no I/O.
 */
export class FrameKindRing {
  private readonly times: Float64Array;
  private readonly rtps: Float64Array;
  private readonly badges: Uint8Array;
  /** Index into `rungs` plus one; 0: no rung. */
  private readonly rungIndex: Uint16Array;
  private readonly rungs: string[] = [];
  /** Frames recorded in all: the next one goes at `count % capacity`. */
  private count = 0;

  constructor(readonly capacity = 600) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a frame kind ring holds at least one frame, not ${capacity}`);
    this.times = new Float64Array(capacity);
    this.rtps = new Float64Array(capacity);
    this.badges = new Uint8Array(capacity);
    this.rungIndex = new Uint16Array(capacity);
  }

  /** Frames recorded since the stream started (older ones than `capacity` back are gone). */
  get recorded(): number {
    return this.count;
  }

  record(frame: FrameKind): void {
    const at = this.count % this.capacity;
    this.times[at] = frame.time;
    this.rtps[at] = frame.rtp ?? NO_RTP;
    this.badges[at] = BADGES.indexOf(frame.badge);
    this.rungIndex[at] = frame.rung === undefined || frame.badge === 'original' ? 0 : this.rungNumber(frame.rung);
    this.count++;
  }

  /** The frames held, oldest first. */
  list(): FrameKind[] {
    const held = Math.min(this.count, this.capacity);
    const out: FrameKind[] = [];
    for (let i = this.count - held; i < this.count; i++) {
      const at = i % this.capacity;
      const rung = this.rungIndex[at]! > 0 ? this.rungs[this.rungIndex[at]! - 1] : undefined;
      const rtp = this.rtps[at]!;
      out.push({ time: this.times[at]!, ...(rtp !== NO_RTP ? { rtp } : {}), badge: BADGES[this.badges[at]!]!, ...(rung !== undefined ? { rung } : {}) });
    }
    return out;
  }

  /** A stream has a handful of rungs; a synthesizer that made up names per frame would still not grow this past the index's range. */
  private rungNumber(name: string): number {
    const found = this.rungs.indexOf(name);
    if (found >= 0) return found + 1;
    if (this.rungs.length >= MAX_RUNGS) return 0;
    this.rungs.push(name);
    return this.rungs.length;
  }
}

const BADGES: readonly FrameBadge[] = ['original', 'model', 'blend', 'dup'];
const MAX_RUNGS = 64;
