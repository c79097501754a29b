import type { Rational } from '../base/rational.js';

/** What the clock reads of an encoded input frame (an `EncodedItem`). */
export interface EncodedArrival {
  /** Its 90 kHz RTP timestamp. */
  timestamp: number;
  /** The pts its decoded frame will carry, when that is not the RTP timestamp (WebRTC restamps frames). */
  pts?: bigint;
}

const NO_PTS = -0x8000000000000000n;

/**
 * When each input frame's encoded data came in, kept until its decoded frame
 * comes out of the decoder, so the frame's timing record can start at its
 * arrival rather than at the end of decoding.
 *
 * Matched by timestamp on the 90 kHz RTP clock (the decoded frame's pts
 * carried onto it): a decoder with frame threads hands frames out a few
 * packets late, so "the last packet" would be the wrong one. WebRTC sources
 * restamp frames on their own timeline, so their encoded items say which
 * pts their frames will carry (matching raw RTP timestamps against it paired
 * frames with arrivals seconds old whenever the two happened to coincide).
 * When no timestamp matches, the newest arrival stands in.
 *
 * Pure: the caller passes the times.
 */
export class ArrivalClock {
  private readonly entries: { timestamp: number; at: number }[] = [];
  private readonly num: bigint;
  private readonly den: bigint;

  constructor(
    /** The time base of the decoded frames' pts. */
    timeBase: Rational,
    private readonly capacity = 64,
  ) {
    this.num = BigInt(timeBase.num);
    this.den = BigInt(timeBase.den);
  }

  /** An input frame's encoded data came in at `at`. */
  note(item: EncodedArrival, at: number): void {
    const timestamp = item.pts !== undefined ? (this.rtpTime(item.pts) ?? item.timestamp) : item.timestamp;
    this.entries.push({ timestamp, at });
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  /**
   * The arrival of the decoded frame with this pts (forgetting it and
   * anything older), else the newest arrival; undefined before any.
   */
  take(pts: bigint): number | undefined {
    const timestamp = this.rtpTime(pts);
    const i = timestamp === undefined ? -1 : this.entries.findIndex((e) => e.timestamp === timestamp);
    if (i >= 0) {
      const { at } = this.entries[i]!;
      this.entries.splice(0, i + 1);
      return at;
    }
    return this.entries.at(-1)?.at;
  }

  /** A pts on the 90 kHz clock, wrapped to 32 bits as RTP's; none without a pts. */
  private rtpTime(pts: bigint): number | undefined {
    return pts === NO_PTS ? undefined : Number(((pts * 90000n * this.num) / this.den) & 0xffffffffn);
  }
}
