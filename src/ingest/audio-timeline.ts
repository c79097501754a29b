const NO_PTS = -0x8000000000000000n;

/**
 * Keeps a pulled source's audio timestamps moving forward across its
 * reconnections and loops, as the live stream's timeline repair does for its
 * video: a step backwards (a file starting over, a source restarted) or one
 * longer than `maxStepSeconds` is folded away, the packet placed one packet
 * after the last. Muxers refuse audio whose timestamps go backwards.
 *
 * Pure: timestamps in, timestamps out (in place on the packet's fields).
 */
export class AudioTimeline {
  private offset = 0n;
  private last?: bigint;
  private step = 0n;

  constructor(
    private readonly timeBase: { num: number; den: number },
    private readonly maxStepSeconds = 10,
  ) {}

  /** The packet's `pts` and `dts` on the folded timeline. */
  fold(packet: { pts: bigint; dts: bigint; duration: bigint }): void {
    const dts = packet.dts !== NO_PTS ? packet.dts : packet.pts;
    if (dts === NO_PTS) return;
    let out = dts + this.offset;
    if (this.last !== undefined) {
      const step = out - this.last;
      const seconds = (Number(step) * this.timeBase.num) / this.timeBase.den;
      if (step <= 0n || seconds > this.maxStepSeconds) {
        const next = this.last + (packet.duration > 0n ? packet.duration : this.step > 0n ? this.step : 1n);
        this.offset += next - out;
        out = next;
      } else {
        this.step = step;
      }
    }
    this.last = out;
    if (packet.dts !== NO_PTS) packet.dts += this.offset;
    if (packet.pts !== NO_PTS) packet.pts += this.offset;
  }
}
