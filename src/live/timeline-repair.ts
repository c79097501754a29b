/**
 * Keeps a live input's timestamps moving forward. A publisher's clock may
 * jump (an encoder restart, a relay failing over, a 32-bit wrap): backwards,
 * the engine would drop every frame until the timestamps caught up (for a
 * reset, forever); far ahead, it would fill the gap with repeats. Like the
 * ffmpeg CLI's `-dts_delta_threshold`, a step backwards or one longer than
 * `maxStepSeconds` is folded away: the frame is placed one frame interval
 * after the last, later frames keep that offset, and the caller is told to
 * treat it as a discontinuity (no morphing across it).
 */
export class TimelineRepair {
  private offset = 0n;
  private last?: bigint;
  private interval = 1n;
  /** How many jumps were folded away. */
  jumps = 0;

  constructor(
    private readonly timeBase: { num: number; den: number },
    private readonly maxStepSeconds = 10,
  ) {}

  /** The repaired pts for an input pts, and whether it had jumped. */
  repair(pts: bigint): { pts: bigint; jumped: boolean } {
    let out = pts + this.offset;
    let jumped = false;
    if (this.last !== undefined) {
      const step = out - this.last;
      const stepSeconds = (Number(step) * this.timeBase.num) / this.timeBase.den;
      if (step <= 0n || stepSeconds > this.maxStepSeconds) {
        this.offset += this.last + this.interval - out;
        out = this.last + this.interval;
        jumped = true;
        this.jumps++;
      } else {
        this.interval = step;
      }
    }
    this.last = out;
    return { pts: out, jumped };
  }
}
