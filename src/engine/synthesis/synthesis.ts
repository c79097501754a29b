import type { Frame } from 'node-av/lib';
import { FlowModel } from '../model/flow-model.js';
import type { FrameModel } from '../model/frame-model.js';
import type { Interpolator, RgbImage } from '../model/interpolator.js';
import type { FlowCorrector } from '../semantic/semantic-stage.js';
import { FineRefiner } from './lk-fine.js';
import { RgbConverter } from './rgb-convert.js';
import { blendFrames, warpBlend } from './warp-kernel.js';

/**
 * Makes the frame at timestep t between two decoded frames. This is what the
 * engine calls per output slot; the kinds differ in where pixels are made:
 * - `DupSynthesizer` references the nearer frame, no pixel work at all;
 * - `BlendSynthesizer` mixes the two frames' samples in their own format
 *   (native, the cheapest real in-between frame);
 * - `TensorSynthesizer` converts both frames to the RGB tensor layout, runs a
 *   frame model (RIFE-style graphs, the `blend` graph) and converts back;
 * - `FlowSynthesizer` runs a flow model on reduced RGB copies and lets the
 *   native kernel warp and blend the full-resolution frames in their own
 *   pixel format.
 * Each converts a frame at most once: a frame is in two consecutive pairs and
 * in every slot of its gaps.
 *
 * A synthesizer owns its model and converters; disposing of it frees them.
 */
export interface Synthesizer extends AsyncDisposable {
  readonly name: string;
  /** A new frame (the caller owns it) at `t` ∈ (0,1), in `a`'s pixel format and size; `a` and `b` stay the caller's. */
  synthesize(a: Frame, b: Frame, t: number): Promise<Frame>;
  [Symbol.asyncDispose](): Promise<void>;
  /** `[Symbol.asyncDispose]`, for the callers that close explicitly. */
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

  async [Symbol.asyncDispose](): Promise<void> {}

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

/**
 * `blend`, `(1 − t)·a + t·b`: the engine's fallback when the model would be
 * late or fails. Done natively on the frames' own planes; the `blend` ONNX
 * graph (`createBlendInterpolator`) computes the same through RGB tensors at
 * many times the cost and stays as the reference the tests compare with.
 */
export class BlendSynthesizer implements Synthesizer {
  readonly name = 'blend';

  synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    return blendFrames(a, b, t);
  }

  async [Symbol.asyncDispose](): Promise<void> {}

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
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

  /** Takes `interpolator` over. */
  static async create(interpolator: Interpolator): Promise<TensorSynthesizer> {
    return new TensorSynthesizer(interpolator, await RgbConverter.create(interpolator.padMultiple));
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    const toRgb = (f: Frame) => this.converter.toRgb(f);
    const [ra, rb] = [await this.cache.get(a, toRgb), await this.cache.get(b, toRgb)];
    const { frame } = await this.interpolator.interpolate(ra, rb, t);
    return this.converter.fromRgb(frame, a);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.converter[Symbol.asyncDispose]();
    await this.interpolator[Symbol.asyncDispose]();
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

export class FlowSynthesizer implements Synthesizer {
  private readonly cache = new PairCache<RgbImage>();
  /** The card's Lucas-Kanade steps above the model's resolution, if it has them. */
  private readonly fine?: FineRefiner;

  private constructor(
    private readonly model: FlowModel,
    private readonly converter: RgbConverter,
    /** The correction of the model's fields from the frames' semantic features (the semantic stage's flow head), if any. */
    readonly correction?: FlowCorrector,
  ) {
    if (model.lkFine && model.lkFine.steps > 0) this.fine = new FineRefiner(model.lkFine);
  }

  get name(): string {
    return this.correction ? `${this.model.name} + flow head` : this.model.name;
  }

  /** Takes `model` over; `correction`, when given, corrects each field before the warp. */
  static async create(model: FlowModel, correction?: FlowCorrector): Promise<FlowSynthesizer> {
    return new FlowSynthesizer(model, await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels), correction);
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    const toRgb = (f: Frame) => this.converter.toRgb(f);
    const [ra, rb] = [await this.cache.get(a, toRgb), await this.cache.get(b, toRgb)];
    let field = await this.model.flows(ra, rb, t);
    if (this.correction) field = await this.correction.correct(field, a, b, ra, rb);
    if (this.fine) field = await this.fine.refine(a, b, field, t);
    return warpBlend(a, b, field, { filter: this.model.warpFilter });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.converter[Symbol.asyncDispose]();
    this.fine?.[Symbol.dispose]();
    await this.model[Symbol.asyncDispose]();
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

/** Wraps a loaded model (taking it over) in the synthesis its kind needs; `correction` applies to a flow model only. */
export function synthesizerFor(model: FrameModel | FlowModel, correction?: FlowCorrector): Promise<Synthesizer> {
  return model instanceof FlowModel ? FlowSynthesizer.create(model, correction) : TensorSynthesizer.create(model);
}
