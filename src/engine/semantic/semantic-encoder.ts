import { existsSync, readFileSync } from 'node:fs';
import type { Frame } from 'node-av/lib';
import { AV_PIX_FMT_GBRP, SWS_ACCURATE_RND, SWS_AREA, SWS_FULL_CHR_H_INT, type AVPixelFormat } from 'node-av/constants';
import { errorMessage } from '../../base/errors.js';
import { buildOnnxModel } from '../runtime/onnx-builder.js';
import { ort, sessionOptions } from '../runtime/ort.js';
import type { ExecutionProvider } from '../runtime/provider.js';
import { copyRows, ScaleContext } from '../runtime/scale-context.js';
import type { Session } from '../runtime/session.js';
import { WorkerSession } from '../runtime/worker-session.js';

/** What the encoder says about one frame. */
export interface SemanticFeatures {
  /** The CLS token, L2-normalised: what the frame shows, as a whole (cosine similarity is a dot product). */
  pooled: Float32Array;
  /** One token per patch, row by row: `grid[0] × grid[1]` tokens of `dim` values each. */
  patches: Float32Array;
  grid: [number, number];
  dim: number;
}

export interface SemanticEncoderOptions {
  /** An ONNX file: `pixel_values` → `last_hidden_state`, ours (`models/semantic.onnx`) or an official DINOv2 export. */
  modelPath: string;
  provider?: ExecutionProvider;
  /** Intra-op threads (the pipeline gives the encoder one of two cores, the interpolator the other). */
  threads?: number;
  /** The square size whole frames are resized to; default: the model card's, else 224 (DINOv2 at patch 14: 16×16 patches). */
  size?: number;
}

/** The fields of a model card (`<model>.json`) the encoder reads. */
interface EncoderCard {
  input?: { size?: [number, number]; patch?: number; normalise?: { mean: number[]; std: number[] } };
}

/** ImageNet's, which DINO and DINOv2 were trained with. */
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/**
 * The semantic stage's encoder: a vision transformer trained with DINO (ours, or an
 * official DINOv2 export) that turns a frame into a pooled feature and
 * patch features. The engine compares the pooled features of consecutive
 * frames to find scene cuts.
 *
 * A frame is resized by swscale straight from its decoded format to planar
 * 8-bit RGB at the model's size (area filter), and a tiny ONNX graph
 * reorders the planes and normalises them, so no per-pixel work is done in
 * JavaScript. The encoder has its own ONNX Runtime session and thread pool,
 * so it runs beside the interpolator's.
 */
export class SemanticEncoder implements AsyncDisposable {
  private scaler?: ScaleContext;
  /** Calls run one at a time: they share the swscale context, which is not re-entrant. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly session: Session,
    private readonly normalise: ort.InferenceSession,
    readonly size: number,
    readonly name: string,
  ) {}

  static async create(options: SemanticEncoderOptions): Promise<SemanticEncoder> {
    const cardPath = options.modelPath.replace(/\.onnx$/, '.json');
    const card: EncoderCard = existsSync(cardPath) ? (JSON.parse(readFileSync(cardPath, 'utf8')) as EncoderCard) : {};
    const size = options.size ?? card.input?.size?.[0] ?? 224;
    const stats = card.input?.normalise ?? IMAGENET;
    const [session, normalise] = await Promise.all([
      WorkerSession.create(options.modelPath, sessionOptions(options.provider, options.threads)).catch((error: unknown) => {
        throw new Error(`cannot load the semantic encoder ${options.modelPath}: ${errorMessage(error).split('\n')[0]}`);
      }),
      ort.InferenceSession.create(normaliseGraph(stats.mean, stats.std), sessionOptions('cpu', 1)),
    ]);
    if (!session.inputNames.includes('pixel_values')) {
      await Promise.all([session[Symbol.asyncDispose](), normalise.release()]);
      throw new Error(`${options.modelPath} is not a semantic encoder: it has no input pixel_values (has ${session.inputNames.join(', ')})`);
    }
    return new SemanticEncoder(session, normalise, size, options.modelPath.split('/').pop()!.replace(/\.onnx$/, ''));
  }

  /** The features of one decoded frame (the frame stays the caller's). */
  encode(frame: Frame): Promise<SemanticFeatures> {
    const result = this.queue.then(() => this.encodeNow(frame));
    // The queue only orders the calls: a failed call's error goes to its own caller (`result`), not to the next call.
    this.queue = result.catch(() => {});
    return result;
  }

  private async encodeNow(frame: Frame): Promise<SemanticFeatures> {
    const size = this.size;
    const ctx = (this.scaler = ScaleContext.reuse(this.scaler, frame.width, frame.height, frame.format as AVPixelFormat, AV_PIX_FMT_GBRP, SWS_AREA | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, size, size));
    await ctx.sws.scaleFrame(ctx.rgb, frame);
    const planes = new Uint8Array(3 * size * size);
    for (let p = 0; p < 3; p++) copyRows(ctx.rgb.data![p]!, ctx.rgb.linesize[p]!, planes, p * size * size, size, size, size);
    const { pixel_values } = await this.normalise.run({ gbr: new ort.Tensor('uint8', planes, [3, size, size]) });
    const out = await this.session.run({ pixel_values: pixel_values! });
    const hidden = out.last_hidden_state ?? out[this.session.outputNames[0]!]!;
    const [, tokens, dim] = hidden.dims as [number, number, number];
    const data = hidden.data as Float32Array;
    const side = Math.round(Math.sqrt(tokens - 1));
    // DINOv2 exports may carry register tokens after the CLS token: the patches are the last side² tokens.
    const patchCount = side * side;
    return {
      pooled: unit(data.subarray(0, dim)),
      patches: data.subarray((tokens - patchCount) * dim),
      grid: [side, side],
      dim,
    };
  }

  /** Waits for the calls in flight, then frees the scaler and both sessions. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.queue;
    this.scaler?.[Symbol.dispose]();
    this.scaler = undefined;
    await Promise.all([this.session[Symbol.asyncDispose](), this.normalise.release()]);
  }
}

/** A copy of `v` scaled to length 1 (a D-element vector, D in the hundreds: not per-pixel work). */
function unit(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float32Array.from(v, (x) => x * scale);
}

/** gbr u8 [3,H,W] → pixel_values float [1,3,H,W]: RGB order, (x/255 − mean) / std per channel. */
function normaliseGraph(mean: number[], std: number[]): Uint8Array {
  return buildOnnxModel({
    name: 'gbr8-to-pixel-values',
    inputs: [{ name: 'gbr', dims: [3, 'height', 'width'], type: 'uint8' }],
    outputs: [{ name: 'pixel_values', dims: [1, 3, 'height', 'width'] }],
    initializers: [
      { name: 'rgb_order', dims: [3], type: 'int64', values: [2, 0, 1] },
      { name: 'axis0', dims: [1], type: 'int64', values: [0] },
      { name: 'scale', dims: [3, 1, 1], type: 'float', values: std.map((s) => 1 / (255 * s)) },
      { name: 'bias', dims: [3, 1, 1], type: 'float', values: mean.map((m, i) => -m / std[i]!) },
    ],
    nodes: [
      { op: 'Gather', inputs: ['gbr', 'rgb_order'], outputs: ['rgb8'], attributes: { axis: 0 } },
      { op: 'Cast', inputs: ['rgb8'], outputs: ['rgb'], attributes: { to: 1 } },
      { op: 'Mul', inputs: ['rgb', 'scale'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['scaled', 'bias'], outputs: ['normalised'] },
      { op: 'Unsqueeze', inputs: ['normalised', 'axis0'], outputs: ['pixel_values'] },
    ],
  });
}
