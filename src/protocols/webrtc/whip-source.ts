import { Decoder } from 'node-av/api';
import { CodecParameters, type Frame, Rational, type Stream } from 'node-av/lib';
import { AV_CHANNEL_ORDER_NATIVE, AV_CH_LAYOUT_STEREO, AV_CODEC_ID_H264, AV_CODEC_ID_OPUS, AV_CODEC_ID_VP8, AVMEDIA_TYPE_AUDIO, AVMEDIA_TYPE_VIDEO } from 'node-av/constants';
import { describeFfmpegError } from '../../base/ffmpeg-log.js';
import { InputError } from '../../base/errors.js';
import { mediaPacket } from '../../ingest/packet.js';
import type { LiveInput, LiveItem, LiveSource } from '../../ingest/live-source.js';
import type { EncodedVideoFrame } from './rtp-frame-assembler.js';
import { RTP_OPUS_CLOCK, RTP_VIDEO_CLOCK, RtpTimeline } from './rtp-timeline.js';
import type { WhipSession } from './whip-session.js';

/**
 * A WHIP session as a live source: video decoded to frames with `pts` in
 * RTP's 90 kHz clock counted from the session's first frame, and the Opus
 * audio (if the publisher sends it) as packets on the same timeline in
 * 1/48000 s (see `RtpTimeline`), to be relayed as they are or transcoded.
 *
 * There is no demuxer here, so the decoder is made from bare codec
 * parameters (H.264 carries its SPS/PPS in band, VP8 needs none), and the
 * audio "stream" is the same kind of placeholder: what `Decoder.create` and a
 * muxer read of a stream. One decoder thread: frame threading would hold
 * frames back, which a live stream cannot afford, and RTP-sized pictures
 * decode fast on one core.
 */
export class WhipSource implements LiveSource {
  readonly videoCodec: string;
  readonly frameRate = undefined;
  readonly video = { timeBase: { num: 1, den: RTP_VIDEO_CLOCK } };
  readonly audio: Stream | undefined;
  decodeErrors = 0;
  mediaBytes = 0;
  private readonly timeline = new RtpTimeline();
  private closed = false;
  private disposed = false;

  private constructor(
    private readonly session: WhipSession,
    private readonly decoder: Decoder,
  ) {
    this.videoCodec = session.codec === 'H264' ? 'h264' : 'vp8';
    this.audio = session.hasAudio ? opusStream() : undefined;
  }

  static async open(session: WhipSession): Promise<WhipSource> {
    const codecpar = new CodecParameters();
    codecpar.alloc();
    codecpar.codecType = AVMEDIA_TYPE_VIDEO;
    codecpar.codecId = session.codec === 'H264' ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8;
    // What Decoder reads of a stream: its parameters, index and time base.
    const stream = { index: 0, codecpar, timeBase: new Rational(1, RTP_VIDEO_CLOCK), avgFrameRate: new Rational(0, 1), rFrameRate: new Rational(0, 1) } as unknown as Stream;
    try {
      const decoder = await Decoder.create(stream, { threadCount: 1 });
      return new WhipSource(session, decoder);
    } catch (err) {
      throw new InputError(`cannot decode ${session.codec} from WebRTC: ${await describeFfmpegError(err)}`);
    }
  }

  async *read(): AsyncGenerator<LiveItem> {
    for await (const item of this.session.items()) {
      if (this.closed) break;
      if (item.kind === 'report') {
        this.timeline.senderReport(item.media, item.ntpMs, item.rtpTimestamp);
        continue;
      }
      this.mediaBytes += item.kind === 'audio' ? item.payload.length : item.frame.data.length;
      if (item.kind === 'audio') {
        const pts = this.timeline.audio(item.timestamp, item.receivedAt);
        // Before the first video frame there is no timeline to put audio on: those few ms are dropped.
        if (pts !== undefined && this.audio) yield { kind: 'audio', packet: mediaPacket(item.payload, { pts, streamIndex: this.audio.index, timeBase: RTP_OPUS_CLOCK, key: true }) };
        continue;
      }
      // The frame as received, for viewers of the original (it is relayed, not re-encoded).
      const pts = this.timeline.video(item.frame.timestamp, item.receivedAt);
      yield { kind: 'encoded', codec: this.session.codec, data: item.frame.data, keyframe: item.frame.keyframe, timestamp: item.frame.timestamp, pts };
      for (const frame of await this.decode(item.frame, pts)) yield { kind: 'video', frame };
    }
    if (!this.closed) for (const frame of await this.decode(null, 0n)) yield { kind: 'video', frame };
  }

  requestKeyframe(): void {
    this.session.requestKeyframe();
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
    using packet = encoded ? mediaPacket(encoded.data, { pts, streamIndex: 0, timeBase: RTP_VIDEO_CLOCK, key: encoded.keyframe }) : null;
    try {
      return await this.decoder.decodeAll(packet);
    } catch {
      this.decodeErrors++;
      this.session.requestKeyframe();
      return [];
    }
  }
}

/** WebRTC's Opus as a stream: 48 kHz, two channels (RFC 7587 always signals 2; the decoder finds what a packet really holds). */
function opusStream(): Stream {
  const codecpar = new CodecParameters();
  codecpar.alloc();
  codecpar.codecType = AVMEDIA_TYPE_AUDIO;
  codecpar.codecId = AV_CODEC_ID_OPUS;
  codecpar.sampleRate = RTP_OPUS_CLOCK;
  codecpar.channelLayout = { order: AV_CHANNEL_ORDER_NATIVE, nbChannels: 2, mask: AV_CH_LAYOUT_STEREO };
  return { index: 1, codecpar, timeBase: new Rational(1, RTP_OPUS_CLOCK) } as unknown as Stream;
}

/** A WHIP session as a live stream's input. */
export function whipInput(session: WhipSession): LiveInput {
  return {
    protocol: 'whip',
    open: () => WhipSource.open(session),
    abort: () => session.close('stopped'),
  };
}
