import { Encoder } from 'node-av/api';
import { type Frame, type Packet, Rational } from 'node-av/lib';
import { AV_PICTURE_TYPE_I, FF_ENCODER_LIBX264 } from 'node-av/constants';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import { OutputError } from '../base/errors.js';
import { parameterSets } from '../base/h264.js';
import type { PresetChoice } from './encoder-sizing.js';
import type { X264Preset } from './x264-presets.js';

export interface LiveH264Options {
  /** Frames per second, for the keyframe interval and, without `frameRate`, the rate x264 plans for. */
  fps: number;
  /** The exact rate, when known: declared to the encoder (and so to the outputs that read it). */
  frameRate?: { num: number; den: number };
  /** libx264's preset, or a choice made from the frame size once the first frame arrives (see `EncoderSizing`). */
  preset: X264Preset | ((width: number, height: number, fps: number) => PresetChoice);
  /** Cap of the video bitrate, kbit/s (default `defaultBitrateKbps` of the frame size and rate; 0: no cap). */
  bitrateKbps?: number;
  /** A keyframe at least every this many seconds. */
  keyframeSeconds: number;
}

/**
 * The live output's default bitrate cap: 0.1 bit per pixel and frame (720p60
 * 5.5 Mbit/s, 480p60 2.5, 1080p60 12.4). Without a cap, x264 `ultrafast` at
 * crf 23 put 31 Mbit/s on a detailed 720p60 clip: more than most viewers'
 * links, and every packet costs the server and each viewer CPU (the WebRTC
 * stacks work per packet).
 */
export function defaultBitrateKbps(width: number, height: number, fps: number): number {
  return Math.round((0.1 * width * height * fps) / 1000);
}

/** Forced keyframes come at most this often, however many viewers join or ask. */
const KEYFRAME_REQUEST_INTERVAL_MS = 250;

/**
 * The live H.264 encoder: libx264 with `zerolatency` (no B-frames, no
 * lookahead, so a frame's packets come back for that frame), a capped CRF,
 * and keyframes on request for WebRTC viewers that join or lose track. The
 * upconverted output (`LiveEgress`) and the re-encoded original
 * (`OriginalEncoder`) are both this, so they behave and tune alike.
 *
 * It opens on the first frame (the frame size is known only then) and owns
 * the FFmpeg encoder: `close()` frees it.
 */
export class LiveH264Encoder implements Disposable {
  private keyframeWanted = false;
  private lastForcedKeyframe = -Infinity;
  /** The frame being encoded now is to be an IDR. */
  private forceKeyframe = false;
  private sps?: Buffer[];

  private constructor(
    /** The FFmpeg encoder, for outputs that register its stream parameters (HLS, a recording, the push). */
    readonly encoder: Encoder,
    /** Filled in as the first frame opens the encoder. */
    private readonly encoding: { readonly preset?: PresetChoice },
  ) {
    // node-av clears every frame's picture type just before it goes to the codec (the type a decoder
    // gave it means nothing to a new encoding), and with it the I that asks libx264 for an IDR: forced
    // keyframes never came, and a joining WebRTC viewer waited for the next scheduled one (seconds).
    // So the type is set after node-av's own preparation of the frame, in its one place for it.
    const internals = encoder as unknown as { prepareFrameForEncoding?: (frame: Frame) => void };
    const prepare = internals.prepareFrameForEncoding;
    if (typeof prepare !== 'function') throw new Error('node-av changed: Encoder.prepareFrameForEncoding is gone, and forced keyframes with it');
    internals.prepareFrameForEncoding = (frame: Frame) => {
      prepare.call(encoder, frame);
      // libx264 turns a frame typed I into an IDR (closed GOP), which is what a joining decoder needs.
      if (this.forceKeyframe) frame.pictType = AV_PICTURE_TYPE_I;
    };
  }

  static async open(options: LiveH264Options): Promise<LiveH264Encoder> {
    const { preset } = options;
    const encoding: { preset?: PresetChoice } = typeof preset === 'string' ? { preset: { preset, reason: 'configured' } } : {};
    try {
      const encoder = await Encoder.create(FF_ENCODER_LIBX264, {
        gopSize: Math.max(1, Math.round(options.fps * options.keyframeSeconds)),
        maxBFrames: 0,
        options: { ...(typeof preset === 'string' ? { preset } : {}), tune: 'zerolatency', crf: 23 },
        // After node-av picked the time base (the frames'), so only the rate changes: the declared one, else
        // the nominal one. x264's rate control plans bits per frame from it; without one it takes the time
        // base's (WebRTC's 90 kHz: 90000 fps), and a bitrate cap then starves every frame.
        configure: (context) => {
          if (typeof preset === 'function') {
            // The frame size is known only now, as the first frame opens the encoder.
            encoding.preset = preset(context.width, context.height, options.fps);
            // x264 reads its preset as it opens, from its private options (where setOption looks).
            if (context.setOption('preset', encoding.preset.preset) < 0) throw new Error(`libx264 refused preset ${encoding.preset.preset}`);
          }
          const rate = options.frameRate ?? { num: Math.round(options.fps * 1000), den: 1000 };
          context.framerate = new Rational(rate.num, rate.den);
          const kbps = options.bitrateKbps ?? defaultBitrateKbps(context.width, context.height, options.fps);
          if (kbps > 0) {
            // Capped CRF: under the cap crf decides; over it x264's VBV (a half-second buffer) holds the rate.
            context.rcMaxRate = BigInt(Math.round(kbps * 1000));
            context.rcBufferSize = Math.round(kbps * 500);
          }
        },
      });
      try {
        return new LiveH264Encoder(encoder, encoding);
      } catch (err) {
        encoder.close();
        throw err;
      }
    } catch (err) {
      throw new OutputError(`cannot start the H.264 encoder: ${await describeFfmpegError(err)}`);
    }
  }

  /** The preset and why, once the first frame has opened the encoder. */
  get preset(): PresetChoice | undefined {
    return this.encoding.preset;
  }

  /** Makes one of the next frames a keyframe (IDR), at most every 250 ms. */
  requestKeyframe(): void {
    this.keyframeWanted = true;
  }

  /** Encodes one frame (which stays the caller's); the packets are the caller's to free. */
  async encode(frame: Frame): Promise<Packet[]> {
    const now = performance.now();
    this.forceKeyframe = this.keyframeWanted && now - this.lastForcedKeyframe >= KEYFRAME_REQUEST_INTERVAL_MS;
    if (this.forceKeyframe) {
      this.keyframeWanted = false;
      this.lastForcedKeyframe = now;
    }
    try {
      return await this.encoder.encodeAll(frame);
    } finally {
      this.forceKeyframe = false;
    }
  }

  /** The packets still inside the encoder; after it, nothing more may be encoded. */
  flush(): Promise<Packet[]> {
    return this.encoder.encodeAll(null);
  }

  /** SPS and PPS, for keyframes sent without them (with a global header, as FLV needs, they are only in the extradata). */
  parameterSets(): Buffer[] {
    this.sps ??= parameterSets(this.encoder.getCodecContext()?.extraData ?? null);
    return this.sps;
  }

  close(): void {
    this.encoder.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
