import { Frame, SoftwareScaleContext } from 'node-av/lib';
import { AV_PIX_FMT_GBRP, type AVPixelFormat } from 'node-av/constants';

/**
 * A swscale context plus its reusable 8-bit planar RGB frame (the
 * destination on the way to RGB, the source on the way back). Both are
 * freed synchronously, as node-av's own frames are: `Disposable`, for `using`.
 */
export class ScaleContext implements Disposable {
  readonly sws = new SoftwareScaleContext();
  readonly rgb = new Frame();

  private constructor(
    readonly width: number,
    readonly height: number,
    readonly from: AVPixelFormat,
    readonly to: AVPixelFormat,
    readonly outWidth: number,
    readonly outHeight: number,
    flags: number,
  ) {
    this.sws.getContext(width, height, from, outWidth, outHeight, to, flags as never);
    // The RGB side: the destination on the way in (at the output size), the source on the way out.
    const toRgb = to === AV_PIX_FMT_GBRP;
    this.rgb.alloc();
    this.rgb.width = toRgb ? outWidth : width;
    this.rgb.height = toRgb ? outHeight : height;
    this.rgb.format = AV_PIX_FMT_GBRP;
    this.rgb.allocBuffer();
  }

  /** `current` where it has this geometry, else a new context (`current` is disposed). */
  static reuse(
    current: ScaleContext | undefined,
    width: number,
    height: number,
    from: AVPixelFormat,
    to: AVPixelFormat,
    flags: number,
    outWidth = width,
    outHeight = height,
  ): ScaleContext {
    if (
      current &&
      current.width === width &&
      current.height === height &&
      current.from === from &&
      current.to === to &&
      current.outWidth === outWidth &&
      current.outHeight === outHeight
    ) {
      return current;
    }
    current?.[Symbol.dispose]();
    return new ScaleContext(width, height, from, to, outWidth, outHeight, flags);
  }

  [Symbol.dispose](): void {
    this.sws.freeContext();
    this.rgb.free();
  }
}

/** Copies a `width × height` picture between two buffers of different row strides. */
export function copyRows(src: Uint8Array, srcStride: number, dst: Uint8Array, dstOffset: number, dstStride: number, width: number, height: number): void {
  if (srcStride === width && dstStride === width) {
    dst.set(src.subarray(0, width * height) as never, dstOffset);
    return;
  }
  for (let y = 0; y < height; y++) dst.set(src.subarray(y * srcStride, y * srcStride + width) as never, dstOffset + y * dstStride);
}
