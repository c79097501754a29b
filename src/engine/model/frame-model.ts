import { sessionOptions } from '../runtime/ort.js';
import { WorkerSession } from '../runtime/worker-session.js';
import type { Interpolated, Interpolator, RgbImage } from './interpolator.js';
import { type ModelOptions, ModelSession } from './model-session.js';

/**
 * A model whose graph makes the whole frame (card `synthesis: "graph"`, the
 * default): output `frame` (or the first output) `[1,3,H,W]`, plus `flow`
 * and `mask` when the graph has them.
 */
export class FrameModel implements Interpolator {
  private readonly frameOutput: string;
  private readonly hasFlow: boolean;
  private readonly hasMask: boolean;

  /** Takes `session` over. */
  constructor(
    readonly name: string,
    readonly padMultiple: number,
    private readonly session: ModelSession,
  ) {
    const outputs = session.outputNames;
    this.frameOutput = outputs.includes('frame') ? 'frame' : outputs[0]!;
    this.hasFlow = outputs.includes('flow');
    this.hasMask = outputs.includes('mask');
  }

  /** A frame model from an in-memory graph (the `blend` graph, test models), without a card. */
  static async fromBytes(bytes: Uint8Array, name: string, padMultiple: number, options: ModelOptions = {}): Promise<FrameModel> {
    const session = await WorkerSession.create(bytes, sessionOptions(options.provider, options.threads));
    return new FrameModel(name, padMultiple, await ModelSession.of(session, name));
  }

  async interpolate(a: RgbImage, b: RgbImage, t: number): Promise<Interpolated> {
    const out = await this.session.run(a, b, t);
    const frame = out[this.frameOutput]!;
    const [, channels, h, w] = frame.dims;
    if (channels !== 3 || h !== a.paddedHeight || w !== a.paddedWidth) {
      throw new Error(`model "${this.name}" returned a ${frame.dims.join('x')} frame for a ${a.paddedHeight}x${a.paddedWidth} input`);
    }
    const result: Interpolated = {
      frame: { width: a.width, height: a.height, paddedWidth: w, paddedHeight: h, data: frame.data as Float32Array },
    };
    if (this.hasFlow) result.flow = { dims: out.flow!.dims, data: out.flow!.data as Float32Array };
    if (this.hasMask) result.mask = { dims: out.mask!.dims, data: out.mask!.data as Float32Array };
    return result;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.session[Symbol.asyncDispose]();
  }
}
