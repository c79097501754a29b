import { cropPlanes, type FlowField } from './flow-field.js';
import type { RgbImage } from './interpolator.js';
import type { RunScope } from '../runtime/session.js';
import type { LkFine, PartsRung, SynthesisSettings, WarpFilter } from './model-card.js';
import type { ModelSession } from './model-session.js';

/**
 * A model whose graph outputs only `flow` (`[1,4,h,w]`) and `mask`
 * (`[1,1,h,w]`) (card `synthesis: "engine"`), from the frames reduced to
 * `inputScale`: the engine warps and blends the full-resolution frames itself
 * (synthesis/warp-kernel.ts).
 */
export class FlowModel implements AsyncDisposable {
  /** The share of the frame size the model sees, and the most pixels its input may have (see ModelCard). */
  readonly inputScale: number;
  readonly maxInputPixels: number;
  /** How the full-resolution warp samples the frames. */
  readonly warpFilter: WarpFilter;
  /** Whether samples still in both frames keep their value (see ModelCard). */
  readonly holdStill: boolean;
  /** Lucas-Kanade steps above the model's resolution (see ModelCard), if its card has them. */
  readonly lkFine?: LkFine;
  /** The ladder rung that runs only the model's first parts (see ModelCard), if its card has one and the model runs in parts. */
  readonly partsRung?: PartsRung;

  /** Takes `session` over; throws when its graph lacks the flow or mask output. */
  constructor(
    readonly name: string,
    readonly padMultiple: number,
    private readonly session: ModelSession,
    settings: SynthesisSettings,
  ) {
    if (!(session.outputNames.includes('flow') && session.outputNames.includes('mask'))) {
      throw new Error(`model "${name}" is marked for engine synthesis but lacks a flow or mask output`);
    }
    this.inputScale = settings.inputScale;
    this.maxInputPixels = settings.maxInputPixels;
    this.warpFilter = settings.warp;
    this.holdStill = settings.holdStill;
    if (settings.lkFine) this.lkFine = settings.lkFine;
    const parts = session.parts;
    if (settings.partsRung && parts !== undefined && settings.partsRung.parts < parts) this.partsRung = settings.partsRung;
  }

  /**
   * The flows and mask between `a` and `b` at `t`, cropped to the picture
   * (the padding's share of the field is dropped), at the model's own
   * resolution.
   */
  async flows(a: RgbImage, b: RgbImage, t: number, options?: RunScope): Promise<FlowField> {
    const out = await this.session.run(a, b, t, options);
    const flow = out.flow!;
    const mask = out.mask!;
    const [, flowChannels, fh, fw] = flow.dims as number[];
    if (flowChannels !== 4 || mask.dims[2] !== fh || mask.dims[3] !== fw) {
      throw new Error(`model "${this.name}" returned flow ${flow.dims.join('x')} and mask ${mask.dims.join('x')}`);
    }
    // The picture covers the same share of the field as of the padded input.
    const width = Math.min(fw!, Math.ceil((a.width * fw!) / a.paddedWidth));
    const height = Math.min(fh!, Math.ceil((a.height * fh!) / a.paddedHeight));
    return {
      width,
      height,
      flow: cropPlanes(flow.data as Float32Array, 4, fw!, fh!, width, height),
      mask: cropPlanes(mask.data as Float32Array, 1, fw!, fh!, width, height),
    };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.session[Symbol.asyncDispose]();
  }
}
