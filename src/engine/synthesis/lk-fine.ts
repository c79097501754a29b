import { lkRefineAddon } from '../runtime/native.js';
import { Frame, SoftwareScaleContext } from 'node-av/lib';
import { AV_PIX_FMT_GRAY8, SWS_ACCURATE_RND, SWS_AREA, type AVPixelFormat } from 'node-av/constants';
import { copyRows } from '../runtime/scale-context.js';
import type { FlowField } from '../model/flow-field.js';
import type { LkFine } from '../model/model-card.js';

/**
 * Refines a flow model's field above the model's own resolution (the card's
 * `lkFine`): the flows
 * and mask upsampled by `scale`, then Lucas-Kanade steps (train/ifnet.py's
 * lk_refine) against the two frames' luma at that size, taken from the
 * decoded frames by swscale's area filter.
 *
 * Why: `fast` sees a 720p frame at a quarter of its size, and its flows are
 * off by a fraction of its pixels, i.e. by a pixel or more of the frame. On
 * held-out footage, run as the engine runs the card, one step at twice the
 * input size gained the most; at the frame's full size it gained less and
 * costs four times as much (train/README.md, footage validation of
 * `lkFine`). Where the frame is not larger than `scale` times the input
 * (small frames, `quality`'s usual case), the field passes unchanged.
 *
 * One refiner serves one stream: it keeps a swscale context and the luma of
 * the last two frames (each frame is in two pairs). All it holds is freed
 * synchronously, as node-av's own frames are: `Disposable`, for `using`.
 */
/** Spare fields kept for reuse: a gap's slots at 2x need one each, and the memory drops a gap's fields at once. */
const MAX_SPARE = 4;

export class FineRefiner implements Disposable {
  private sws?: { ctx: SoftwareScaleContext; frame: Frame; key: string };
  private lumas: [Frame, Uint8Array][] = [];
  /** Fields this refiner made, and those of them handed back as no longer used: see `recycle`. */
  private readonly made = new WeakSet<FlowField>();
  private spare: FlowField[] = [];
  /** Samples of the last refined field that took the global shift candidate (the card's `lkFine.shift`). */
  shifted = 0;

  constructor(readonly settings: LkFine) {}

  /**
   * `field` (the model's, covering the input picture) refined at `scale`
   * times its size, or unchanged where the frames are not that large. A
   * field refined already (the `reuse` rung's, from the gap before) is
   * refined again at its own size: `scale` 1. `steps` overrides the card's
   * (a rung's setting). The frames stay the caller's; the refiner remembers
   * the last two by identity.
   */
  async refine(a: Frame, b: Frame, field: FlowField, t: number, scale = this.settings.scale, steps = this.settings.steps): Promise<FlowField> {
    const [width, height] = [field.width * scale, field.height * scale];
    if (width > a.width || height > a.height) return field;
    const [la, lb] = [await this.luma(a, width, height), await this.luma(b, width, height)];
    const out = this.takeSpare(width, height) ?? { width, height, flow: new Float32Array(4 * width * height), mask: new Float32Array(width * height) };
    this.made.add(out);
    try {
      // The shift candidate is for the network's own field: a reused one (refined at scale 1) had its chance.
      const shift = this.settings.shift === true && scale === this.settings.scale && scale > 1;
      this.shifted = await lkRefineAddon.lkFine(la, lb, field.flow, field.mask, field.width, field.height, scale, t, steps, out.flow, out.mask, shift);
    } catch (error) {
      this.recycle(out);
      throw error;
    }
    return out;
  }

  /**
   * Hands back a field that nobody reads any more (the caller's field memory
   * let it go): the next `refine` of that size writes into its arrays. A new
   * field per call was most of what a call allocated, and V8 counts such
   * buffers against its heap limit: a major collection every two or three
   * in-between frames (bench/synthesis.ts, the GC row). Fields this refiner
   * did not make (the model's own) are ignored.
   */
  recycle(field: FlowField): void {
    if (!this.made.has(field) || this.spare.includes(field)) return;
    this.spare = [...this.spare.slice(-(MAX_SPARE - 1)), field];
  }

  private takeSpare(width: number, height: number): FlowField | undefined {
    const i = this.spare.findIndex((f) => f.width === width && f.height === height);
    return i < 0 ? undefined : this.spare.splice(i, 1)[0];
  }

  /** The frame's luma at width x height, packed (cached for the frame while it is one of the last two). */
  private async luma(frame: Frame, width: number, height: number): Promise<Uint8Array> {
    const hit = this.lumas.find(([f, l]) => f === frame && l.length === width * height);
    if (hit) return hit[1];
    const key = `${frame.width}x${frame.height}/${frame.format}->${width}x${height}`;
    if (this.sws?.key !== key) {
      this.disposeScaler();
      const ctx = new SoftwareScaleContext();
      ctx.getContext(frame.width, frame.height, frame.format as AVPixelFormat, width, height, AV_PIX_FMT_GRAY8, (SWS_AREA | SWS_ACCURATE_RND) as never);
      const out = new Frame();
      out.alloc();
      out.width = width;
      out.height = height;
      out.format = AV_PIX_FMT_GRAY8;
      out.allocBuffer();
      this.sws = { ctx, frame: out, key };
    }
    await this.sws.ctx.scaleFrame(this.sws.frame, frame);
    const luma = new Uint8Array(width * height);
    copyRows(this.sws.frame.data![0]!, this.sws.frame.linesize[0]!, luma, 0, width, width, height);
    this.lumas = [...this.lumas.slice(-1), [frame, luma]];
    return luma;
  }

  private disposeScaler(): void {
    this.sws?.ctx.freeContext();
    this.sws?.frame.free();
    this.sws = undefined;
  }

  [Symbol.dispose](): void {
    this.disposeScaler();
    this.lumas = [];
    this.spare = [];
  }
}
