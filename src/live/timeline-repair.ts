import type { Rational } from '../base/rational.js';

/** Where a live input's timestamps come from: the publisher's (`source`), or its frames' arrival, once the publisher's proved unusable. */
export type TimestampClock = 'source' | 'arrival';

/** Bad steps (backwards, repeated, or far ahead of the arrival clock) among the last `BAD_WINDOW` frames that make the publisher's timestamps unusable. */
const BAD_STEPS = 3;
const BAD_WINDOW = 30;
/** A step counts as bad when the timestamps move this much further (ms) than the arrival clock did. */
const AHEAD_OF_ARRIVAL_MS = 1000;

/**
 * Keeps a live input's timestamps moving forward. A publisher's clock may
 * jump (an encoder restart, a relay failing over, a 32-bit wrap): backwards,
 * the engine would drop every frame until the timestamps caught up (for a
 * reset, forever); far ahead, it would fill the gap with repeats. Like the
 * ffmpeg CLI's `-dts_delta_threshold`, a step backwards or one longer than
 * `maxStepSeconds` is folded away: the frame is placed one frame interval
 * after the last, later frames keep that offset, and the caller is told to
 * treat it as a discontinuity (no morphing across it).
 *
 * Some publishers' timestamps are no clock at all: all 0, decreasing, or
 * random (issue #28). Folding each bad step would place every frame one
 * interval after the last, whatever the pace they came at, and the rate grid
 * would then pile them onto a few ticks. So after `BAD_STEPS` bad steps
 * within `BAD_WINDOW` frames the timestamps are dropped for the rest of the
 * stream (`clock` turns `arrival`): each frame is stamped with when it came
 * in, on the announced rate's ticks (at least one tick after the last).
 */
export class TimelineRepair {
  private offset = 0n;
  private last?: bigint;
  private lastArrival?: number;
  private interval: bigint;
  /** Frame numbers of the bad steps among the last `BAD_WINDOW` frames. */
  private readonly bad: number[] = [];
  private frames = 0;
  /** One tick of the arrival clock: a frame of the announced rate, else one unit of the time base. */
  private readonly tickMs: number;
  private readonly tickUnits: number;
  private anchor?: { pts: bigint; at: number; tick: number };
  /** How many jumps were folded away. */
  jumps = 0;
  clock: TimestampClock = 'source';

  constructor(
    private readonly timeBase: Rational,
    private readonly maxStepSeconds = 10,
    /** The rate the publisher announced, if it did. */
    frameRate?: Rational,
  ) {
    const unitMs = (1000 * timeBase.num) / timeBase.den;
    this.tickMs = frameRate ? (1000 * frameRate.den) / frameRate.num : unitMs;
    this.tickUnits = this.tickMs / unitMs;
    // Rounded up: folded frames one interval apart must never share a tick of the rate grid.
    this.interval = BigInt(Math.max(1, Math.ceil(this.tickUnits)));
  }

  /** The repaired pts for an input pts that came in at `at` (ms; unknown: undefined), and whether it had jumped. */
  repair(pts: bigint, at?: number): { pts: bigint; jumped: boolean } {
    this.frames++;
    if (this.clock === 'arrival') return { pts: this.onArrival(at), jumped: false };
    let out = pts + this.offset;
    let jumped = false;
    if (this.last !== undefined) {
      const step = out - this.last;
      const stepMs = (Number(step) * 1000 * this.timeBase.num) / this.timeBase.den;
      if (step <= 0n || stepMs > this.maxStepSeconds * 1000) {
        this.offset += this.last + this.interval - out;
        out = this.last + this.interval;
        jumped = true;
        this.jumps++;
      } else {
        this.interval = step;
      }
      const arrivalMs = at !== undefined && this.lastArrival !== undefined ? at - this.lastArrival : undefined;
      if ((jumped || (arrivalMs !== undefined && stepMs > arrivalMs + AHEAD_OF_ARRIVAL_MS)) && this.unusable() && at !== undefined) {
        // From here on, time is counted from this frame's arrival.
        this.clock = 'arrival';
        this.anchor = { pts: out, at, tick: 0 };
      }
    }
    this.last = out;
    this.lastArrival = at;
    return { pts: out, jumped };
  }

  /** Why `clock` is `arrival`. */
  get arrivalReason(): string {
    return `${BAD_STEPS} of ${BAD_WINDOW} frames' timestamps went backwards, repeated or ran more than ${AHEAD_OF_ARRIVAL_MS / 1000} s ahead of their arrival`;
  }

  /**
   * The pts the arrival clock gives `at` (ms), once `clock` is `arrival`:
   * for the publisher's other streams (audio), which the caller keeps
   * increasing itself.
   */
  ptsAt(at: number): bigint | undefined {
    if (!this.anchor) return undefined;
    return this.anchor.pts + BigInt(Math.round(((at - this.anchor.at) / this.tickMs) * this.tickUnits));
  }

  /** Notes a bad step; true when there are too many of them. */
  private unusable(): boolean {
    this.bad.push(this.frames);
    while (this.bad[0]! <= this.frames - BAD_WINDOW) this.bad.shift();
    return this.bad.length >= BAD_STEPS;
  }

  private onArrival(at: number | undefined): bigint {
    const anchor = this.anchor!;
    const elapsed = at === undefined ? anchor.tick + 1 : Math.round((at - anchor.at) / this.tickMs);
    anchor.tick = Math.max(anchor.tick + 1, elapsed);
    const out = anchor.pts + BigInt(Math.round(anchor.tick * this.tickUnits));
    this.last = out;
    return out;
  }
}
