import { type Rational } from '../base/rational.js';

/**
 * Puts live timestamps back on the frame grid the publisher announced.
 *
 * FLV stamps frames in whole milliseconds, so a 30 fps stream arrives 33,
 * 34, 33 ms apart. Cut into halves, those gaps give an output whose frame
 * intervals jitter between 16.5 and 17 ms, which players and probes read as
 * 59.94 fps or worse. Rounding each timestamp to the nearest tick of the
 * announced rate (1/30 s) removes the jitter without moving any frame by
 * more than half a frame, so the engine's `{ factor: 2 }` lands every output
 * frame exactly on 1/60 s and input frames still pass through untouched.
 *
 * Pure: integer arithmetic only.
 */
export class RateGrid {
  /** One tick per frame of the announced rate. */
  readonly timeBase: Rational;
  private readonly num: bigint;
  private readonly den: bigint;

  constructor(
    inputTimeBase: Rational,
    readonly rate: Rational,
  ) {
    this.timeBase = { num: rate.den, den: rate.num };
    // ticks = pts · tb.num/tb.den seconds · rate.num/rate.den frames per second
    this.num = BigInt(inputTimeBase.num) * BigInt(rate.num);
    this.den = BigInt(inputTimeBase.den) * BigInt(rate.den);
  }

  /** `pts` (input time base) → the nearest tick of the grid; halves round up. */
  snap(pts: bigint): bigint {
    return floorDiv(2n * pts * this.num + this.den, 2n * this.den);
  }

  /**
   * Puts a frame (a node-av `Frame`, in place) on the grid, in its time base.
   * Its duration is left to the engine, which takes the gap to the next
   * frame; a frame without a pts is left as it is.
   */
  restamp(frame: { pts: bigint; duration: bigint; timeBase: Rational }): void {
    if (frame.pts === NO_PTS) return;
    frame.pts = this.snap(frame.pts);
    frame.duration = 0n;
    frame.timeBase = this.timeBase;
  }
}

const NO_PTS = -0x8000000000000000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b; // truncates toward zero
  return q * b > a ? q - 1n : q;
}
