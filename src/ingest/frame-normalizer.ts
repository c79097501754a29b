import { Frame, SoftwareScaleContext, avGetPixFmtName } from 'node-av/lib';
import {
  AVCOL_RANGE_MPEG,
  AVCOL_SPC_SMPTE170M,
  AV_PIX_FMT_YUV420P,
  AV_PIX_FMT_YUV422P,
  AV_PIX_FMT_YUV444P,
  SWS_BICUBIC,
  SWS_ACCURATE_RND,
  type AVPixelFormat,
} from 'node-av/constants';

export interface Geometry {
  width: number;
  height: number;
  format: AVPixelFormat;
}

export interface NormalizedFrame {
  frame: Frame;
  /** The source changed geometry just before this frame: do not interpolate across it. */
  discontinuity: boolean;
}

// 8-bit YUV layouts every H.264/VP9 encoder and player handles; anything else
// (10-bit, RGB, palette, NV12, ...) is converted once here, at ingest.
const KEPT_FORMATS = new Set<number>([AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P]);

/** The pixel format and size the whole stream is processed and encoded in, fixed by its first frame. */
export function outputGeometry(width: number, height: number, format: AVPixelFormat): Geometry {
  const odd = width % 2 === 1 || height % 2 === 1;
  // 4:2:0 and 4:2:2 need even sizes in the encoder; 4:4:4 keeps odd sizes intact.
  if (odd) return { width, height, format: AV_PIX_FMT_YUV444P };
  return { width, height, format: KEPT_FORMATS.has(format) ? format : AV_PIX_FMT_YUV420P };
}

/**
 * Brings every decoded frame to the stream's output geometry, chosen from the
 * first frame. A mid-stream resolution or format change is scaled back to it
 * (as the ffmpeg CLI does) and flagged as a discontinuity so the engine does
 * not morph across the change.
 */
export class FrameNormalizer implements Disposable {
  geometry?: Geometry;
  private sws?: SoftwareScaleContext;
  private swsInput?: Geometry;
  private lastInput?: Geometry;

  /** Takes ownership of `frame`; the returned frame is the caller's. */
  async normalize(frame: Frame): Promise<NormalizedFrame> {
    const input: Geometry = { width: frame.width, height: frame.height, format: frame.format as AVPixelFormat };
    const out = (this.geometry ??= outputGeometry(input.width, input.height, input.format));
    const discontinuity = this.lastInput !== undefined && !sameGeometry(this.lastInput, input);
    this.lastInput = input;
    if (sameGeometry(input, out)) return { frame, discontinuity };

    if (!this.sws || !this.swsInput || !sameGeometry(this.swsInput, input)) {
      this.sws?.freeContext();
      this.sws = new SoftwareScaleContext();
      this.sws.getContext(input.width, input.height, input.format, out.width, out.height, out.format, (SWS_BICUBIC | SWS_ACCURATE_RND) as never);
      this.swsInput = input;
    }
    const converted = new Frame();
    converted.alloc();
    converted.width = out.width;
    converted.height = out.height;
    converted.format = out.format;
    converted.allocBuffer();
    converted.copyProps(frame);
    // swscale writes limited-range YUV; from RGB, grey or palette sources it
    // uses the BT.601 matrix. Tag the frame with what it now holds, not what
    // the source was.
    converted.colorRange = AVCOL_RANGE_MPEG;
    if (!isYuv(input.format)) converted.colorSpace = AVCOL_SPC_SMPTE170M;
    await this.sws.scaleFrame(converted, frame);
    frame.free();
    return { frame: converted, discontinuity };
  }

  [Symbol.dispose](): void {
    this.sws?.freeContext();
    this.sws = undefined;
  }
}

function isYuv(format: AVPixelFormat): boolean {
  return /^(yuv|yuvj|nv|p0|p2|y2|uyvy|yuyv|yvyu)/.test(avGetPixFmtName(format) ?? '');
}

function sameGeometry(a: Geometry, b: Geometry): boolean {
  return a.width === b.width && a.height === b.height && a.format === b.format;
}
