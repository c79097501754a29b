import { Decoder } from 'node-av/api';
import { CodecParameters, type Frame, Packet, Rational, type Stream } from 'node-av/lib';
import { AV_CODEC_ID_H264, AV_CODEC_ID_VP8, AV_PKT_FLAG_KEY, AVMEDIA_TYPE_VIDEO } from 'node-av/constants';
import { describeFfmpegError } from '../../ffmpeg-log.js';
import { InputError } from '../file-source.js';
import type { LiveInput, LiveSource } from '../live-source.js';
import type { SourceItem } from '../read-demuxed.js';
import type { EncodedVideoFrame } from './rtp-frame-assembler.js';
import type { WhipSession } from './whip-session.js';

const RTP_VIDEO_CLOCK = 90000;

/**
 * A WHIP session's video, decoded: frames with `pts` in RTP's 90 kHz clock,
 * counted from the session's first frame (RTP timestamps are unwrapped, so
 * a stream can run past the 13 hours after which they wrap).
 *
 * There is no demuxer here, so the decoder is made from bare codec
 * parameters (H.264 carries its SPS/PPS in band, VP8 needs none). One
 * decoder thread: frame threading would hold frames back, which a live
 * stream cannot afford, and RTP-sized pictures decode fast on one core.
 */
export class RtpVideoSource implements LiveSource {
  readonly videoCodec: string;
  readonly frameRate = undefined;
  readonly video = { timeBase: { num: 1, den: RTP_VIDEO_CLOCK } };
  readonly audio = undefined;
  decodeErrors = 0;
  private closed = false;
  private disposed = false;

  private constructor(
    private readonly session: WhipSession,
    private readonly decoder: Decoder,
  ) {
    this.videoCodec = session.codec === 'H264' ? 'h264' : 'vp8';
  }

  static async open(session: WhipSession): Promise<RtpVideoSource> {
    const codecpar = new CodecParameters();
    codecpar.alloc();
    codecpar.codecType = AVMEDIA_TYPE_VIDEO;
    codecpar.codecId = session.codec === 'H264' ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8;
    // What Decoder reads of a stream: its parameters, index and time base.
    const stream = { index: 0, codecpar, timeBase: new Rational(1, RTP_VIDEO_CLOCK), avgFrameRate: new Rational(0, 1), rFrameRate: new Rational(0, 1) } as unknown as Stream;
    try {
      const decoder = await Decoder.create(stream, { threadCount: 1 });
      return new RtpVideoSource(session, decoder);
    } catch (err) {
      throw new InputError(`cannot decode ${session.codec} from WebRTC: ${await describeFfmpegError(err)}`);
    }
  }

  async *read(): AsyncGenerator<SourceItem> {
    let last: number | undefined;
    let pts = 0n;
    for await (const encoded of this.session.frames()) {
      if (this.closed) break;
      if (last !== undefined) pts += BigInt((encoded.timestamp - last) | 0); // signed 32-bit difference: unwraps
      last = encoded.timestamp;
      for (const frame of await this.decode(encoded, pts)) yield { kind: 'video', frame };
    }
    if (!this.closed) for (const frame of await this.decode(null, 0n)) yield { kind: 'video', frame };
  }

  close(): void {
    this.closed = true;
    this.session.close('stopped');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.close();
    this.decoder.close();
  }

  /** A damaged frame costs its pictures, not the stream (and the next keyframe repairs it: ask for one). */
  private async decode(encoded: EncodedVideoFrame | null, pts: bigint): Promise<Frame[]> {
    using packet = encoded ? toPacket(encoded, pts) : null;
    try {
      return await this.decoder.decodeAll(packet);
    } catch {
      this.decodeErrors++;
      this.session.requestKeyframe();
      return [];
    }
  }
}

function toPacket(encoded: EncodedVideoFrame, pts: bigint): Packet {
  const packet = new Packet();
  packet.alloc();
  packet.data = encoded.data;
  packet.pts = pts;
  packet.dts = pts;
  packet.streamIndex = 0;
  packet.timeBase = new Rational(1, RTP_VIDEO_CLOCK);
  if (encoded.keyframe) packet.flags = AV_PKT_FLAG_KEY;
  return packet;
}

/** A WHIP session as a live stream's input. */
export function whipInput(session: WhipSession): LiveInput {
  return {
    protocol: 'whip',
    open: () => RtpVideoSource.open(session),
    abort: () => session.close('stopped'),
  };
}
