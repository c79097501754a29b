import { ort, sessionOptions } from '../runtime/ort.js';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_GBRP, SWS_ACCURATE_RND, SWS_AREA, SWS_BILINEAR, SWS_FULL_CHR_H_INP, SWS_FULL_CHR_H_INT, type AVPixelFormat } from 'node-av/constants';
import { buildOnnxModel } from '../runtime/onnx-builder.js';
import { copyRows, ScaleContext } from '../runtime/scale-context.js';
import { paddedSize, type RgbImage } from '../model/interpolator.js';

/** The share of a `width × height` frame a model sees: `scale`, or less where that would exceed `maxPixels`. */
export function reducedScale(width: number, height: number, scale: number, maxPixels = Infinity): number {
  return Math.min(scale, Math.sqrt(maxPixels / (width * height)));
}

/**
 * Converts decoded video frames to the model's padded planar float RGB tensor
 * and back.
 *
 * swscale does the colour conversion, to and from 8-bit planar RGB (`gbrp`):
 * its float RGB output is not exact (8-bit 255 comes out as 254.02/255), its
 * 8-bit path is. Two tiny ONNX graphs do the layout work in vectorised
 * kernels: G,B,R → R,G,B plane order, zero padding and u8 → float/255 on the
 * way in; clamp, round to u8, crop and back to G,B,R on the way out. The only
 * JavaScript work is copying planes between FFmpeg's row stride and a packed
 * buffer.
 *
 * One converter serves one stream and keeps its swscale contexts, re-created
 * only when the frame geometry changes.
 */
export class RgbConverter implements AsyncDisposable {
  private toRgbCtx?: ScaleContext;
  private fromRgbCtx?: ScaleContext;

  private constructor(
    private readonly padMultiple: number,
    private readonly scale: number,
    private readonly maxPixels: number,
    private readonly toTensor: ort.InferenceSession,
    private readonly fromTensor: ort.InferenceSession,
  ) {}

  /**
   * `scale` < 1 makes `toRgb` return a reduced copy (swscale's area filter,
   * a box average at 1/2), for models that estimate flow at reduced size.
   * `maxPixels` caps the reduced copy's area: larger frames are reduced
   * further, so a flow model's cost stops growing with the frame size.
   */
  static async create(padMultiple: number, scale = 1, maxPixels = Infinity): Promise<RgbConverter> {
    const options = sessionOptions();
    const [to, from] = await Promise.all([
      ort.InferenceSession.create(toTensorGraph(), options),
      ort.InferenceSession.create(fromTensorGraph(), options),
    ]);
    return new RgbConverter(padMultiple, scale, maxPixels, to, from);
  }

  /** Decoded frame (it stays the caller's) → padded planar RGB in 0..1 (at the converter's scale). */
  async toRgb(frame: Frame): Promise<RgbImage> {
    const scale = reducedScale(frame.width, frame.height, this.scale, this.maxPixels);
    const round = scale < this.scale ? Math.floor : Math.round; // under the cap, stay under it
    const width = Math.max(1, round(frame.width * scale + 1e-9));
    const height = Math.max(1, round(frame.height * scale + 1e-9));
    const flags = scale < 1 ? SWS_AREA | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT : TO_RGB_FLAGS;
    const ctx = (this.toRgbCtx = ScaleContext.reuse(this.toRgbCtx, frame.width, frame.height, frame.format as AVPixelFormat, AV_PIX_FMT_GBRP, flags, width, height));
    await ctx.sws.scaleFrame(ctx.rgb, frame);
    const planes = new Uint8Array(3 * width * height);
    for (let p = 0; p < 3; p++) copyRows(ctx.rgb.data![p]!, ctx.rgb.linesize[p]!, planes, p * width * height, width, width, height);

    const paddedWidth = paddedSize(width, this.padMultiple);
    const paddedHeight = paddedSize(height, this.padMultiple);
    const out = await this.toTensor.run({
      gbr: new ort.Tensor('uint8', planes, [3, height, width]),
      pads: new ort.Tensor('int64', BigInt64Array.of(0n, 0n, 0n, 0n, 0n, 0n, BigInt(paddedHeight - height), BigInt(paddedWidth - width)), [8]),
    });
    return { width, height, paddedWidth, paddedHeight, data: out.rgb!.data as Float32Array };
  }

  /**
   * Padded planar RGB → a new frame in `like`'s pixel format and colour
   * properties, cropped back to the picture. The caller owns the new frame;
   * `like` stays the caller's.
   */
  async fromRgb(image: RgbImage, like: Frame): Promise<Frame> {
    const { width, height } = image;
    const format = like.format as AVPixelFormat;
    const out = await this.fromTensor.run({
      rgb: new ort.Tensor('float32', image.data, [1, 3, image.paddedHeight, image.paddedWidth]),
      size: new ort.Tensor('int64', BigInt64Array.of(BigInt(height), BigInt(width)), [2]),
    });
    const planes = out.gbr!.data as Uint8Array;
    const ctx = (this.fromRgbCtx = ScaleContext.reuse(this.fromRgbCtx, width, height, AV_PIX_FMT_GBRP, format, FROM_RGB_FLAGS));
    for (let p = 0; p < 3; p++) copyRows(planes.subarray(p * width * height), width, ctx.rgb.data![p]!, 0, ctx.rgb.linesize[p]!, width, height);

    const frame = new Frame();
    frame.alloc();
    frame.width = width;
    frame.height = height;
    frame.format = format;
    frame.colorRange = like.colorRange;
    frame.colorSpace = like.colorSpace;
    frame.colorPrimaries = like.colorPrimaries;
    frame.colorTrc = like.colorTrc;
    frame.allocBuffer();
    await ctx.sws.scaleFrame(frame, ctx.rgb);
    return frame;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.toRgbCtx?.[Symbol.dispose]();
    this.fromRgbCtx?.[Symbol.dispose]();
    this.toRgbCtx = this.fromRgbCtx = undefined;
    await Promise.all([this.toTensor.release(), this.fromTensor.release()]);
  }
}

const TO_RGB_FLAGS = SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
const FROM_RGB_FLAGS = SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP;

// Both graphs keep reordering, padding and cropping on 8-bit data (4x less
// memory traffic) and cross between u8 and float in a single
// (De)QuantizeLinear pass, which also rounds half-to-even and saturates.

/** gbr u8 [3,H,W] + pads → rgb float [1,3,H+padH,W+padW] in 0..1. */
function toTensorGraph(): Uint8Array {
  return buildOnnxModel({
    name: 'gbr8-to-rgb-tensor',
    inputs: [
      { name: 'gbr', dims: [3, 'height', 'width'], type: 'uint8' },
      { name: 'pads', dims: [8], type: 'int64' },
    ],
    outputs: [{ name: 'rgb', dims: [1, 3, 'padded_height', 'padded_width'] }],
    initializers: [
      { name: 'rgb_order', dims: [3], type: 'int64', values: [2, 0, 1] },
      { name: 'axis0', dims: [1], type: 'int64', values: [0] },
      { name: 'scale', dims: [], type: 'float', values: [1 / 255] },
      { name: 'zero_point', dims: [], type: 'uint8', values: [0] },
    ],
    nodes: [
      { op: 'Gather', inputs: ['gbr', 'rgb_order'], outputs: ['rgb8'], attributes: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['rgb8', 'axis0'], outputs: ['batched'] },
      { op: 'Pad', inputs: ['batched', 'pads'], outputs: ['padded'] },
      { op: 'DequantizeLinear', inputs: ['padded', 'scale', 'zero_point'], outputs: ['rgb'] },
    ],
  });
}

/** rgb float [1,3,Hp,Wp] + size [H,W] → gbr u8 [3,H,W]: clamp to 0..1, round, crop. */
function fromTensorGraph(): Uint8Array {
  return buildOnnxModel({
    name: 'rgb-tensor-to-gbr8',
    inputs: [
      { name: 'rgb', dims: [1, 3, 'padded_height', 'padded_width'] },
      { name: 'size', dims: [2], type: 'int64' },
    ],
    outputs: [{ name: 'gbr', dims: [3, 'height', 'width'], type: 'uint8' }],
    initializers: [
      { name: 'gbr_order', dims: [3], type: 'int64', values: [1, 2, 0] },
      { name: 'origin', dims: [2], type: 'int64', values: [0, 0] },
      { name: 'hw_axes', dims: [2], type: 'int64', values: [2, 3] },
      { name: 'axis0', dims: [1], type: 'int64', values: [0] },
      { name: 'scale', dims: [], type: 'float', values: [1 / 255] },
      { name: 'zero_point', dims: [], type: 'uint8', values: [0] },
    ],
    nodes: [
      { op: 'QuantizeLinear', inputs: ['rgb', 'scale', 'zero_point'], outputs: ['rgb8'] },
      { op: 'Slice', inputs: ['rgb8', 'origin', 'size', 'hw_axes'], outputs: ['cropped'] },
      { op: 'Squeeze', inputs: ['cropped', 'axis0'], outputs: ['planes'] },
      { op: 'Gather', inputs: ['planes', 'gbr_order'], outputs: ['gbr'], attributes: { axis: 0 } },
    ],
  });
}
