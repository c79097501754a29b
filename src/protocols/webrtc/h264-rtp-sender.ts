import type { Packet } from 'node-av/lib';
import type { VideoFanout } from './video-fanout.js';

/**
 * An H.264 encoder's packets to WebRTC viewers: each access unit stamped on
 * one RTP clock (90 kHz) that starts at a random point (RFC 3550).
 */
export class H264RtpSender {
  private readonly base = BigInt(Math.floor(Math.random() * 0x100000000));

  constructor(
    private readonly fanout: VideoFanout,
    /** The encoder's SPS and PPS, for keyframes that lack them in band. */
    private readonly parameterSets: () => Buffer[],
  ) {}

  /** Sends `packet` (which stays the caller's) to the fanout's viewers, if it has any. */
  send(packet: Packet): void {
    if (this.fanout.count === 0 || !packet.data) return;
    const { num, den } = packet.timeBase;
    const timestamp = Number((this.base + (packet.pts * 90000n * BigInt(num)) / BigInt(den)) & 0xffffffffn);
    this.fanout.writeH264(packet.data, timestamp, packet.isKeyframe, this.parameterSets());
  }

  /**
   * The RTP timestamp of the frame at media time `seconds`, as `send` stamps
   * it (give or take a tick of rounding: a reader matches the nearest).
   */
  timestampAt(seconds: number): number {
    return Number((this.base + BigInt(Math.floor(seconds * 90000 + 1e-6))) & 0xffffffffn);
  }
}
