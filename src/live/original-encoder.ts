import type { Frame } from 'node-av/lib';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import type { Rational } from '../base/rational.js';
import { defaultBitrateKbps, LiveH264Encoder } from '../egress/live-h264.js';
import { H264RtpSender } from '../protocols/webrtc/h264-rtp-sender.js';
import type { VideoFanout } from '../protocols/webrtc/video-fanout.js';

/** `idle` (no viewer of the original), `encoding`, or `failed: <why>` (the original is then unavailable on this stream). */
export type OriginalEncoderState = 'idle' | 'encoding' | `failed: ${string}`;

export interface OriginalEncoderOptions {
  /** The viewers of the original: the encoder runs only while it has some. */
  fanout: VideoFanout;
  /** The input's rate (frames per second), for the keyframe interval and the rate control. */
  fps: number;
  /**
   * Output frames per input frame of the upconverted stream beside it (default 2). The original gets the
   * output's bitrate: it is there to be compared with the output, and at the bits per frame of the
   * output's cap ultrafast's picture was visibly coarser (average QP about 41 at 720p30).
   */
  factor?: number;
  /** The output's configured bitrate cap, kbit/s (0: none), which the original takes too. */
  bitrateKbps?: number;
  frameRate?: { num: number; den: number };
  /** The time base of the frames' pts (the pipeline's input time base). */
  timeBase: Rational;
  /** Hears why the encoder failed: the stream's original viewers must go, the stream itself goes on. */
  onFailed: (error: string) => void;
}

/**
 * The original, for a source whose video WebRTC cannot take as it is (the
 * test pattern, HEVC, MPEG-2…): the input frames the engine gets, encoded
 * once to H.264 with the live encoder's settings (`ultrafast` here: the
 * interpolation engine needs the CPU more than this picture needs the bits)
 * and fanned out to every viewer of the original.
 *
 * It costs a share of a core, so it runs only while someone watches: the
 * first frame after a viewer joins opens the encoder (its first frame is
 * an IDR), and `idle()` closes it once the last viewer has left. It never
 * holds the pipeline up: it keeps at most one frame waiting behind the one
 * being encoded and drops the next ones until the encoder has caught up.
 * A failure ends only this: the state says why and new viewers are refused.
 */
export class OriginalEncoder implements AsyncDisposable {
  private encoder?: LiveH264Encoder;
  private rtp?: H264RtpSender;
  /** Every step (an encode, a close) in order, one at a time: the encoder is never closed under an encode. */
  private work: Promise<void> = Promise.resolve();
  /** A frame is queued behind the one being encoded. */
  private waiting = false;
  private failure?: string;
  private closed = false;
  /** Frames encoded, over every run: viewers' and tests' proof of when it ran. */
  framesEncoded = 0;
  /** Frames not encoded because the encoder was still busy with earlier ones. */
  framesSkipped = 0;

  constructor(private readonly options: OriginalEncoderOptions) {}

  get state(): OriginalEncoderState {
    if (this.failure !== undefined) return `failed: ${this.failure}`;
    return this.encoder ? 'encoding' : 'idle';
  }

  /** False once the encoder has failed: viewers of the original are refused from then on. */
  get usable(): boolean {
    return this.failure === undefined && !this.closed;
  }

  /**
   * One input frame, which stays the caller's: encoded for the viewers of
   * the original, if there are any (the encoder keeps its own reference).
   */
  offer(frame: Frame): void {
    if (!this.usable || this.options.fanout.count === 0) return;
    if (this.waiting) {
      this.framesSkipped++;
      return;
    }
    const own = frame.clone();
    if (!own) {
      this.fail('cannot reference an input frame');
      return;
    }
    // Restamped frames carry their time base; a frame the normalizer scaled may not.
    own.timeBase = this.options.timeBase as Frame['timeBase'];
    this.waiting = true;
    this.enqueue(async () => {
      this.waiting = false;
      try {
        await this.encode(own);
      } finally {
        own.free();
      }
    });
  }

  /** A viewer joined or lost track: the next frame is an IDR. */
  requestKeyframe(): void {
    this.encoder?.requestKeyframe();
  }

  /** The last viewer left: the encoder closes (a later viewer opens a new one). */
  idle(): void {
    this.enqueue(async () => {
      if (this.options.fanout.count === 0) this.closeEncoder();
    });
  }

  /** Closes the encoder once the step under way has finished. */
  async close(): Promise<void> {
    this.closed = true;
    this.enqueue(async () => this.closeEncoder());
    await this.work;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async encode(frame: Frame): Promise<void> {
    if (this.closed || this.options.fanout.count === 0) return;
    if (!this.encoder) {
      const { fps, frameRate, factor = 2 } = this.options;
      const bitrateKbps = this.options.bitrateKbps ?? defaultBitrateKbps(frame.width, frame.height, fps * factor);
      this.encoder = await LiveH264Encoder.open({ fps, ...(frameRate ? { frameRate } : {}), preset: 'ultrafast', keyframeSeconds: 2, bitrateKbps });
      const encoder = this.encoder;
      this.rtp = new H264RtpSender(this.options.fanout, () => encoder.parameterSets());
    }
    const packets = await this.encoder.encode(frame);
    this.framesEncoded++;
    try {
      for (const packet of packets) this.rtp?.send(packet);
    } finally {
      for (const packet of packets) packet.free();
    }
  }

  private enqueue(step: () => Promise<void>): void {
    // x264 says why it refused a frame in FFmpeg's log, not in the error.
    this.work = this.work.then(step).catch(async (error: unknown) => this.fail(await describeFfmpegError(error)));
  }

  private fail(error: string): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.closeEncoder();
    this.options.onFailed(error);
  }

  private closeEncoder(): void {
    this.encoder?.close();
    this.encoder = undefined;
    this.rtp = undefined;
  }
}
