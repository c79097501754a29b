import type { FlowHead } from '../semantic/flow-head.js';
import type { SemanticFeatures } from '../semantic/semantic-encoder.js';
import type { Frame } from 'node-av/lib';
import type { Interpolator, RgbImage } from '../model/interpolator.js';
import { OnnxInterpolator } from '../model/onnx-interpolator.js';
import { RgbConverter } from './rgb-convert.js';
import { FineRefiner } from './lk-fine.js';
import { blendFrames, warpBlend } from './warp-kernel.js';

/**
 * Makes the frame at timestep t between two decoded frames. This is what the
 * engine calls per output slot; the three kinds differ in where pixels are
 * made:
 * - `DupSynthesizer` references the nearer frame, no pixel work at all;
 * - `BlendSynthesizer` mixes the two frames' samples in their own format
 *   (native, about 1 ms at 720p);
 * - `TensorSynthesizer` converts both frames to the RGB tensor layout, runs an
 *   interpolator that returns the whole frame (blend, RIFE-style graphs) and
 *   converts back;
 * - `FlowSynthesizer` runs a flow model on reduced RGB copies and lets the
 *   native kernel warp and blend the full-resolution frames in their own
 *   pixel format.
 * Each converts a frame at most once: a frame is in two consecutive pairs and
 * in every slot of its gaps.
 */
export interface Synthesizer {
  readonly name: string;
  /** A new frame (the caller owns it) at `t` ∈ (0,1), in `a`'s pixel format and size. */
  synthesize(a: Frame, b: Frame, t: number): Promise<Frame>;
  close(): Promise<void>;
}

export class DupSynthesizer implements Synthesizer {
  readonly name = 'dup';

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    // A tie holds the earlier frame. clone() references the same pixels: no copy.
    const out = (t <= 0.5 ? a : b).clone();
    if (!out) throw new Error('out of memory while referencing a frame');
    return out;
  }

  async close(): Promise<void> {}
}

/** Remembers the converted form of the last two frames seen, by identity. */
class PairCache<T> {
  private entries: [Frame, T][] = [];

  async get(frame: Frame, make: (frame: Frame) => Promise<T>): Promise<T> {
    const hit = this.entries.find(([f]) => f === frame);
    if (hit) return hit[1];
    const value = await make(frame);
    this.entries = [...this.entries.slice(-1), [frame, value]];
    return value;
  }
}

export class TensorSynthesizer implements Synthesizer {
  private readonly cache = new PairCache<RgbImage>();

  private constructor(
    private readonly interpolator: Interpolator,
    private readonly converter: RgbConverter,
  ) {}

  get name(): string {
    return this.interpolator.name;
  }

  static async create(interpolator: Interpolator): Promise<TensorSynthesizer> {
    return new TensorSynthesizer(interpolator, await RgbConverter.create(interpolator.padMultiple));
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    const toRgb = (f: Frame) => this.converter.toRgb(f);
    const [ra, rb] = [await this.cache.get(a, toRgb), await this.cache.get(b, toRgb)];
    const { frame } = await this.interpolator.interpolate(ra, rb, t);
    return this.converter.fromRgb(frame, a);
  }

  async close(): Promise<void> {
    this.converter[Symbol.dispose]();
    await this.interpolator.close();
  }
}

export class FlowSynthesizer implements Synthesizer {
  private readonly cache = new PairCache<RgbImage>();
  /** A correction of the model's flow field from the frames' semantic features (the semantic stage's flow head), when set. */
  correction?: { head: FlowHead; features: (frame: Frame) => SemanticFeatures | undefined };

  /** The card's Lucas-Kanade steps above the model's resolution, if it has them. */
  private readonly fine?: FineRefiner;

  private constructor(
    private readonly model: OnnxInterpolator,
    private readonly converter: RgbConverter,
  ) {
    if (model.lkFine && model.lkFine.steps > 0) this.fine = new FineRefiner(model.lkFine);
  }

  get name(): string {
    return this.correction ? `${this.model.name} + flow head` : this.model.name;
  }

  /** The model's own name (its card's), without the flow head. */
  get modelName(): string {
    return this.model.name;
  }

  /** The share of the frame size the model estimates flow at. */
  get inputScale(): number {
    return this.model.inputScale;
  }

  static async create(model: OnnxInterpolator): Promise<FlowSynthesizer> {
    return new FlowSynthesizer(model, await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels));
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    const toRgb = (f: Frame) => this.converter.toRgb(f);
    const [ra, rb] = [await this.cache.get(a, toRgb), await this.cache.get(b, toRgb)];
    let field = await this.model.estimateFlow(ra, rb, t);
    const fa = this.correction?.features(a);
    const fb = this.correction?.features(b);
    if (this.correction && fa && fb) field = await this.correction.head.correct(field, ra, rb, fa, fb);
    if (this.fine) field = await this.fine.refine(a, b, field, t);
    return warpBlend(a, b, field, { filter: this.model.warpFilter });
  }

  async close(): Promise<void> {
    this.converter[Symbol.dispose]();
    this.fine?.[Symbol.dispose]();
    await this.model.close();
  }
}

/**
 * `blend`, `(1 − t)·a + t·b`: the engine's fallback when the model would be
 * late. Done natively on the frames' own planes; the `blend` ONNX graph
 * (`createBlendInterpolator`) computes the same through RGB tensors at ~30x
 * the cost at 720p and stays as the reference the tests compare with.
 */
export class BlendSynthesizer implements Synthesizer {
  readonly name = 'blend';

  synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    return blendFrames(a, b, t);
  }

  async close(): Promise<void> {}
}

/** Wraps a loaded model in the synthesis its card asks for. */
export function synthesizerFor(model: OnnxInterpolator): Promise<Synthesizer> {
  return model.synthesis === 'engine' ? FlowSynthesizer.create(model) : TensorSynthesizer.create(model);
}
