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
  /**
   * Row bands run in parallel on the libuv thread pool (default 2): the
   * frame is ready sooner for a small share more CPU in all
   * (bench/kernels.ts, `--bands`).
   */
  slices?: number;
  /** Where the result's buffer comes from (default: a new frame each call). */
  output?: OutputFrames;
}

/**
 * Synthesizes the in-between frame directly in YUV: upsample the flow field,
 * backward-warp both frames and blend them with the mask, in one native pass
 * per output sample (see native/warp-blend.c). Returns a new frame in the
 * inputs' format; the caller owns it, and `a` and `b` stay the caller's.
 */
export async function warpBlend(a: Frame, b: Frame, field: FlowField, { filter = 'bilinear', holdStill = false, slices = 2, output }: WarpOptions = {}): Promise<Frame> {
  const { out, planes } = output ? output.take(a, b) : outputFor(a, b);
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
export async function blendFrames(a: Frame, b: Frame, t: number, slices = 1, output?: OutputFrames): Promise<Frame> {
  const { out, planes } = output ? output.take(a, b) : outputFor(a, b);
  await inBands(out, a.height, slices, (rowStart, rowEnd) => warpBlendAddon.blend({ ...planes, t, rowStart, rowEnd }));
  return out;
}

/**
 * Whether `a` and `b` share a size and a pixel format the native kernels
 * take, and no sample of one differs from the other's by more than `limit`
 * (8-bit levels). Reads both frames once at most, on this thread; a pair
 * with motion is answered within its first rows.
 */
export function pairWithin(a: Frame, b: Frame, limit: number): boolean {
  const shift = CHROMA_SHIFT.get(a.format as number);
  if (!shift || b.format !== a.format || b.width !== a.width || b.height !== a.height) return false;
  return warpBlendAddon.pairWithin({ ...sourcePlanes(shift, a, b), limit });
}

type Planes = Omit<PlaneParams, 'rowStart' | 'rowEnd'>;

/** A new frame shaped like `a` for the result, and the three planes' geometry for native code (also what bench/kernels.ts calls the kernels with). */
export function outputFor(a: Frame, b: Frame): { out: Frame; planes: Planes } {
  const shift = chromaShift(a, b);
  const out = newFrameLike(a);
  return { out, planes: planesOf(shift, a, b, out, out.data!.slice(0, 3)) };
}

/** The chroma subsampling of `a`'s format; throws where native synthesis cannot take the pair. */
function chromaShift(a: Frame, b: Frame): [number, number] {
  const shift = CHROMA_SHIFT.get(a.format as number);
  if (!shift) throw new Error(`unsupported pixel format ${a.format} for native synthesis`);
  if (b.format !== a.format || b.width !== a.width || b.height !== a.height) throw new Error('frames differ in geometry');
  return shift;
}

function newFrameLike(a: Frame): Frame {
  const out = new Frame();
  out.alloc();
  out.width = a.width;
  out.height = a.height;
  out.format = a.format;
  copyColour(a, out);
  out.allocBuffer();
  return out;
}

function copyColour(from: Frame, to: Frame): void {
  to.colorRange = from.colorRange;
  to.colorSpace = from.colorSpace;
  to.colorPrimaries = from.colorPrimaries;
  to.colorTrc = from.colorTrc;
}

/** The three planes of `a` and `b`: their sizes (chroma subsampled by `shift`), buffers and strides. */
function sourcePlanes(shift: [number, number], a: Frame, b: Frame): Omit<Planes, 'dst' | 'dstStride'> {
  const cw = (a.width + (1 << shift[0]) - 1) >> shift[0];
  const ch = (a.height + (1 << shift[1]) - 1) >> shift[1];
  return {
    planes: 3,
    width: [a.width, cw, cw],
    height: [a.height, ch, ch],
    src0: a.data!.slice(0, 3),
    src1: b.data!.slice(0, 3),
    stride0: a.linesize.slice(0, 3),
    stride1: b.linesize.slice(0, 3),
  };
}

function planesOf(shift: [number, number], a: Frame, b: Frame, out: Frame, dst: Buffer[]): Planes {
  return { ...sourcePlanes(shift, a, b), dst, dstStride: out.linesize.slice(0, 3) };
}

/**
 * The output frames of one synthesizer, whose buffers are written again once
 * every consumer has let them go: each result is a new reference (`clone`)
 * to a frame kept here, and a kept frame is reused only when it is writable,
 * i.e. no reference but its own is left. Why: a new frame per slot is new
 * memory that V8 counts against its heap limit once its planes are seen
 * from JavaScript, which made a major collection every two or three
 * in-between frames (bench/synthesis.ts, the GC row). A consumer that holds
 * on to its frames costs a new one per slot, as before, beyond `max` kept.
 */
export class OutputFrames implements Disposable {
  private kept: { frame: Frame; dst: Buffer[] }[] = [];

  constructor(private readonly max = 4) {}

  /** Frames kept for reuse now. */
  get size(): number {
    return this.kept.length;
  }

  /** A frame for the result of `a` and `b` (the caller owns it), and the planes' geometry with its buffers as the destination. */
  take(a: Frame, b: Frame): { out: Frame; planes: Planes } {
    const shift = chromaShift(a, b);
    let entry = this.kept.find((k) => k.frame.width === a.width && k.frame.height === a.height && k.frame.format === a.format && k.frame.isWritable);
    if (!entry) {
      if (this.kept.length >= this.max) return outputFor(a, b);
      const frame = newFrameLike(a);
      entry = { frame, dst: frame.data!.slice(0, 3) };
      this.kept.push(entry);
    }
    copyColour(a, entry.frame);
    const out = entry.frame.clone();
    if (!out) throw new Error('out of memory while referencing an output frame');
    return { out, planes: planesOf(shift, a, b, entry.frame, entry.dst) };
  }

  /** Lets the kept frames go; results still held elsewhere keep their own references. */
  [Symbol.dispose](): void {
    for (const k of this.kept) k.frame.free();
    this.kept = [];
  }
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
