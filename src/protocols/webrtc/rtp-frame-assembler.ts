import { DepacketizeBase, JitterBufferBase, type RtpPacket } from 'werift/nonstandard';
import type { VideoCodecName } from './sdp-offer.js';

/** One whole encoded picture: Annex-B H.264 (SPS/PPS in front of keyframes) or a VP8 frame. */
export interface EncodedVideoFrame {
  data: Buffer;
  keyframe: boolean;
  /** The RTP timestamp (90 kHz, wraps at 2^32). */
  timestamp: number;
}

export type AssemblerOutput = { frame: EncodedVideoFrame } | { needKeyframe: true };

export interface RtpFrameAssemblerOptions {
  /** How long a missing packet is waited for (reordering, NACK retransmission) before it counts as lost, in ms (default 100). */
  reorderMs?: number;
}

/**
 * The receive core of a WHIP session: RTP packets in arrival order in, whole
 * encoded frames out (pure, werift's jitter buffer and depacketizer in a row).
 *
 * A lost packet breaks every frame until the next keyframe (they predict
 * from what was lost), so from a loss on frames are held back and
 * `needKeyframe` is reported, for the adapter to ask the publisher (PLI);
 * the same at the start, before the first keyframe.
 */
export class RtpFrameAssembler {
  private readonly jitter: JitterBufferBase;
  private readonly depacketizer: DepacketizeBase;
  private waitingForKeyframe = true;
  /** Frames held back because a loss (or the start) left the decoder without a reference. */
  skipped = 0;
  lost = 0;

  constructor(codec: VideoCodecName, options: RtpFrameAssemblerOptions = {}) {
    this.jitter = new JitterBufferBase(90000, { latency: options.reorderMs ?? 100 });
    this.depacketizer = new DepacketizeBase(codec === 'H264' ? 'MPEG4/ISO/AVC' : 'VP8', {
      isFinalPacketInSequence: (header) => header.marker,
    });
  }

  processInput(rtp: RtpPacket): AssemblerOutput[] {
    const out: AssemblerOutput[] = [];
    for (const ordered of this.jitter.processInput({ rtp })) {
      if (ordered.isPacketLost) {
        this.lost++;
        this.lose(out);
      }
      if (!ordered.rtp) continue;
      for (const { frame } of this.depacketizer.processInput({ rtp: ordered.rtp })) {
        if (!frame || frame.data.length === 0) continue;
        if (this.waitingForKeyframe && !frame.isKeyframe) {
          this.skipped++;
          out.push({ needKeyframe: true });
          continue;
        }
        this.waitingForKeyframe = false;
        out.push({ frame: { data: frame.data, keyframe: frame.isKeyframe, timestamp: frame.timestamp as number } });
      }
    }
    return out;
  }

  private lose(out: AssemblerOutput[]): void {
    if (!this.waitingForKeyframe) out.push({ needKeyframe: true });
    this.waitingForKeyframe = true;
  }
}
