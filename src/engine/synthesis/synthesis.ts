import type { Frame } from 'node-av/lib';
import type { FlowField } from '../model/flow-field.js';
import { FlowModel } from '../model/flow-model.js';
import type { FrameModel } from '../model/frame-model.js';
import type { Interpolator, RgbImage } from '../model/interpolator.js';
import type { FlowCorrector } from '../semantic/semantic-stage.js';
import { FieldMemory, FlowRung, ladder, MAX_REUSES, type RungSetting } from './flow-rungs.js';
import { FineRefiner } from './lk-fine.js';
import { RgbConverter } from './rgb-convert.js';
import { blendFrames, OutputFrames, pairWithin, warpBlend } from './warp-kernel.js';

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
  /** Whether it can render this slot at all (absent: always); the `reuse` rung needs the previous gap's field. */
  canRender?(a: Frame, b: Frame, t: number): boolean;
  /**
   * Runs it (and its rungs) once on a frame of the stream's size, so that the
   * first live slots do not pay for allocations (see `Upconverter`'s warm-up).
   */
  warmUp?(frame: Frame): Promise<void>;
  /** Cheaper settings of the same model, best first (a flow model's ladder): views it owns and closes. */
  rungs?(): readonly Synthesizer[];
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
  readonly name: string = 'blend';
  private readonly output = new OutputFrames();

  synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    return blendFrames(a, b, t, 1, this.output);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.output[Symbol.dispose]();
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

/**
 * How far (8-bit levels) the samples of a still pair may differ: an encoder's
 * noise on a picture that did not change, no motion that any warp could
 * render differently from a blend by more than half of it.
 */
export const STILL_PAIR_LIMIT = 2;

/**
 * The in-between frames of a still pair (`Upconverter`'s still-pair path):
 * where no sample of the two frames differs by more than `limit`, their
 * blend is the answer, and the model's run would only add its noise and its
 * cost (a paused game, an idle desktop or terminal, a frame the source
 * repeated). Any other pair, or a pixel format the native kernels do not
 * take, it declines.
 */
export class StillPairSynthesizer extends BlendSynthesizer {
  override readonly name: string = 'still';

  constructor(private readonly limit = STILL_PAIR_LIMIT) {
    super();
  }

  canRender(a: Frame, b: Frame): boolean {
    return pairWithin(a, b, this.limit);
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
  /** Renders in flight: a field let go while another render runs may still be read by it, so it is not reused then. */
  private rendering = 0;
  private readonly memory = new FieldMemory((field) => {
    if (this.rendering <= 1) this.fine?.recycle(field);
  });
  private readonly top: RungSetting;
  private readonly views: FlowRung[];
  private readonly output = new OutputFrames();

  private constructor(
    private readonly model: FlowModel,
    private readonly converter: RgbConverter,
    /** The correction of the model's fields from the frames' semantic features (the semantic stage's flow head), if any. */
    readonly correction?: FlowCorrector,
  ) {
    if (model.lkFine && model.lkFine.steps > 0) this.fine = new FineRefiner(model.lkFine);
    const [top, ...lower] = ladder(model.warpFilter, this.fine !== undefined, model.partsRung);
    this.top = top!;
    const owner = { render: this.render.bind(this), canRender: this.canRenderWith.bind(this) };
    this.views = lower.map((setting) => new FlowRung(`${this.name}/${setting.label}`, owner, setting));
  }

  get name(): string {
    return this.correction ? `${this.model.name} + flow head` : this.model.name;
  }

  /**
   * The cheaper rungs under this one (its ladder, see `ladder`), best first:
   * views that share its model, converter and field memory. It owns them and
   * closes them when it is disposed.
   */
  rungs(): readonly Synthesizer[] {
    return this.views;
  }

  /** Takes `model` over; `correction`, when given, corrects each field before the warp. */
  static async create(model: FlowModel, correction?: FlowCorrector): Promise<FlowSynthesizer> {
    return new FlowSynthesizer(model, await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels), correction);
  }

  synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    return this.render(a, b, t, this.top);
  }

  /**
   * The top rung once on the pair (`frame`, `frame`): its first run allocates
   * what every rung shares (the model's memory arena at this size, the
   * converter's and the refiner's swscale contexts, the kernels' scratch), so
   * the rungs' own first runs cost little more than later ones. One run, not
   * one per rung: it has to fit before the stream's first slot is due.
   */
  async warmUp(frame: Frame): Promise<void> {
    const out = await this.render(frame, frame, 0.5, this.top);
    out.free();
    // The warm-up's field is of no gap of the stream.
    this.memory.clear();
  }

  private canRenderWith(a: Frame, b: Frame, t: number, setting: RungSetting): boolean {
    if (!setting.reuse) return true;
    const kept = this.memory.previousField(a, b, t);
    return kept !== undefined && kept.reuses < MAX_REUSES;
  }

  /** One slot with `setting`; every field is kept for the next gap's `reuse` rung. */
  private async render(a: Frame, b: Frame, t: number, setting: RungSetting): Promise<Frame> {
    this.rendering++;
    try {
      return await this.renderOne(a, b, t, setting);
    } finally {
      this.rendering--;
    }
  }

  private async renderOne(a: Frame, b: Frame, t: number, setting: RungSetting, reused = setting.reuse ? this.memory.previousField(a, b, t) : undefined): Promise<Frame> {
    let field: FlowField;
    let scale = 1;
    let reuses = 0;
    if (setting.reuse) {
      if (!reused || !this.fine) throw new Error(`${this.name}/${setting.label}: no field of the previous gap to reuse`);
      field = await this.fine.refine(a, b, reused.field, t, reused.scale);
      if (field === reused.field) scale = reused.scale;
      reuses = reused.reuses + 1;
    } else {
      const toRgb = (f: Frame) => this.converter.toRgb(f);
      const [ra, rb] = [await this.cache.get(a, toRgb), await this.cache.get(b, toRgb)];
      field = await this.model.flows(ra, rb, t, setting.parts ? { parts: setting.parts.parts } : undefined);
      if (this.correction) field = await this.correction.correct(field, a, b, ra, rb);
      const raw = field;
      if (this.fine) field = await this.fine.refine(a, b, field, t, this.fine.settings.scale, setting.parts?.fineSteps);
      if (this.fine && field === raw) scale = this.fine.settings.scale;
    }
    this.memory.enter(a, b);
    this.memory.keep(t, { field, scale, reuses });
    return warpBlend(a, b, field, { filter: setting.filter, holdStill: this.model.holdStill, output: this.output });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const view of this.views) await view[Symbol.asyncDispose]();
    this.memory.clear();
    this.output[Symbol.dispose]();
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
