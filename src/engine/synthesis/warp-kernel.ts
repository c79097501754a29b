import { type PlaneParams, warpBlendAddon } from '../runtime/native.js';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_GBRP, AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P } from 'node-av/constants';
import type { FlowField } from '../model/flow-field.js';
import type { WarpFilter } from '../model/model-card.js';

// log2 of the chroma subsampling (x, y) of the 8-bit planar formats the engine sees.
const CHROMA_SHIFT = new Map<number, [number, number]>([
  [AV_PIX_FMT_GBRP, [0, 0]], // planar RGB: what eval feeds
  [AV_PIX_FMT_YUV420P, [1, 1]],
  [AV_PIX_FMT_YUV422P, [1, 0]],
  [AV_PIX_FMT_YUV444P, [0, 0]],
]);

export interface WarpOptions {
  /**
   * `bilinear` (default): what the models are trained with. `bicubic`:
   * keeps fine texture sharper, since a bilinear sample between two pixels
   * averages them (better on footage validation for the shipped models,
   * train/README.md); about twice the kernel's time.
   */
  filter?: WarpFilter;
  /**
   * Samples that are the same in both frames, in a run along their row,
   * keep that value instead of the warped one: static overlays (HUDs,
   * scoreboards, unchanged text) stay still where the field of the moving
   * scene beside them would make them swim (native/warp-blend.c, hold_still).
   */
  holdStill?: boolean;
  /** Row bands run in parallel on the libuv thread pool. */
  slices?: number;
}

/**
 * Synthesizes the in-between frame directly in YUV: upsample the flow field,
 * backward-warp both frames and blend them with the mask, in one native pass
 * per output sample (see native/warp-blend.c). Returns a new frame in the
 * inputs' format; the caller owns it, and `a` and `b` stay the caller's.
 */
export async function warpBlend(a: Frame, b: Frame, field: FlowField, { filter = 'bilinear', holdStill = false, slices = 2 }: WarpOptions = {}): Promise<Frame> {
  const { out, planes } = outputFor(a, b);
  const params = { ...planes, flow: field.flow, mask: field.mask, flowWidth: field.width, flowHeight: field.height, cubic: filter === 'bicubic', holdStill };
  await inBands(out, a.height, slices, (rowStart, rowEnd) => warpBlendAddon.warpBlend({ ...params, rowStart, rowEnd }));
  return out;
}

/**
 * `(1 − t)·a + t·b` of two frames, per 8-bit sample in their own pixel
 * format (linear, so the same as blending in RGB up to rounding): the
 * engine's blend, without the float RGB round trip. A new frame; the caller
 * owns it, and `a` and `b` stay the caller's.
 */
export async function blendFrames(a: Frame, b: Frame, t: number, slices = 1): Promise<Frame> {
  const { out, planes } = outputFor(a, b);
  await inBands(out, a.height, slices, (rowStart, rowEnd) => warpBlendAddon.blend({ ...planes, t, rowStart, rowEnd }));
  return out;
}

/** A new frame shaped like `a` for the result, and the three planes' geometry for native code (also what bench/kernels.ts calls the kernels with). */
export function outputFor(a: Frame, b: Frame): { out: Frame; planes: Omit<PlaneParams, 'rowStart' | 'rowEnd'> } {
  const shift = CHROMA_SHIFT.get(a.format as number);
  if (!shift) throw new Error(`unsupported pixel format ${a.format} for native synthesis`);
  if (b.format !== a.format || b.width !== a.width || b.height !== a.height) throw new Error('frames differ in geometry');
  const out = new Frame();
  out.alloc();
  out.width = a.width;
  out.height = a.height;
  out.format = a.format;
  out.colorRange = a.colorRange;
  out.colorSpace = a.colorSpace;
  out.colorPrimaries = a.colorPrimaries;
  out.colorTrc = a.colorTrc;
  out.allocBuffer();
  const cw = (a.width + (1 << shift[0]) - 1) >> shift[0];
  const ch = (a.height + (1 << shift[1]) - 1) >> shift[1];
  return {
    out,
    planes: {
      planes: 3,
      width: [a.width, cw, cw],
      height: [a.height, ch, ch],
      src0: a.data!.slice(0, 3),
      src1: b.data!.slice(0, 3),
      dst: out.data!.slice(0, 3),
      stride0: a.linesize.slice(0, 3),
      stride1: b.linesize.slice(0, 3),
      dstStride: out.linesize.slice(0, 3),
    },
  };
}

/** Runs `work` on `slices` row bands of `out` (`height` rows), in parallel on the libuv pool; frees `out` if it fails. */
async function inBands(out: Frame, height: number, slices: number, work: (rowStart: number, rowEnd: number) => Promise<void>): Promise<void> {
  const bands = Math.max(1, Math.min(slices, height));
  try {
    await Promise.all(Array.from({ length: bands }, (_, i) => work(Math.floor((i * height) / bands), Math.floor(((i + 1) * height) / bands))));
  } catch (err) {
    out.free();
    throw err;
  }
}
