import { existsSync, readFileSync } from 'node:fs';
import { cropPlanes, type FlowField } from '../model/flow-field.js';
import type { RgbImage } from '../model/interpolator.js';
import { ort, sessionOptions } from '../runtime/ort.js';
import type { ExecutionProvider } from '../runtime/provider.js';
import type { Session } from '../runtime/session.js';
import { WorkerSession } from '../runtime/worker-session.js';
import type { SemanticFeatures } from './semantic-encoder.js';

/** What corrects an interpolator's flow field, given both frames at the field's resolution and their semantic features. */
export type FlowCorrection = (field: FlowField, a: RgbImage, b: RgbImage, fa: SemanticFeatures, fb: SemanticFeatures) => Promise<FlowField>;

const INPUTS = ['flow', 'mask', 'img0', 'img1', 'patches0', 'patches1'];

/**
 * The flow-correction head (`train/flow_head.py`): a small network, trained
 * with the interpolator and the semantic encoder frozen, that takes the
 * interpolator's flows and mask, the two frames at the flows' resolution and
 * both frames' patch features, and returns corrected flows and mask. The
 * engine's warp and blend then use those. It runs after the interpolator, in
 * the slot's time.
 */
export class FlowHead implements AsyncDisposable {
  private constructor(
    private readonly session: Session,
    /** The card name of the interpolator it was trained behind (its card's `interpolator`), when the card says. */
    readonly interpolator: string | undefined,
    /** The interpolator input scale it was trained behind (1/down), from its card. */
    readonly inputScale: number | undefined,
  ) {}

  static async create(modelPath: string, options: { provider?: ExecutionProvider; threads?: number } = {}): Promise<FlowHead> {
    if (!existsSync(modelPath)) throw new Error(`flow-correction head not found: ${modelPath}`);
    const session = await WorkerSession.create(modelPath, sessionOptions(options.provider, options.threads));
    const missing = INPUTS.filter((name) => !session.inputNames.includes(name));
    if (missing.length > 0) {
      await session[Symbol.asyncDispose]();
      throw new Error(`${modelPath} is not a flow-correction head: missing input(s) ${missing.join(', ')}`);
    }
    const card = modelPath.replace(/\.onnx$/, '.json');
    const { down, interpolator } = existsSync(card) ? (JSON.parse(readFileSync(card, 'utf8')) as { down?: number; interpolator?: string }) : {};
    return new FlowHead(session, interpolator, down ? 1 / down : undefined);
  }

  readonly correct: FlowCorrection = async (field, a, b, fa, fb) => {
    const { width, height } = field;
    // The frames as the network saw them, cut to the picture the field covers.
    const crop = (image: RgbImage) => cropPlanes(image.data, 3, image.paddedWidth, image.paddedHeight, width, height);
    const tokens = (f: SemanticFeatures) => new ort.Tensor('float32', f.patches, [1, f.grid[0] * f.grid[1], f.dim]);
    const out = await this.session.run({
      flow: new ort.Tensor('float32', field.flow, [1, 4, height, width]),
      mask: new ort.Tensor('float32', field.mask, [1, 1, height, width]),
      img0: new ort.Tensor('float32', crop(a), [1, 3, height, width]),
      img1: new ort.Tensor('float32', crop(b), [1, 3, height, width]),
      patches0: tokens(fa),
      patches1: tokens(fb),
    });
    return { width, height, flow: out.flow_out!.data as Float32Array, mask: out.mask_out!.data as Float32Array };
  };

  [Symbol.asyncDispose](): Promise<void> {
    return this.session[Symbol.asyncDispose]();
  }
}
