import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ort, sessionOptions } from '../runtime/ort.js';
import { type Session, type StagedModel, WorkerSession } from '../runtime/worker-session.js';
import type { Interpolated, Interpolator, RgbImage } from './interpolator.js';
import type { FlowField, WarpFilter } from '../synthesis/warp-kernel.js';
import type { LkFine } from '../synthesis/lk-fine.js';
import type { LkPyramid } from '../runtime/staged-session.js';

export interface SessionOptions {
  /** `cpu` (default) or `cuda` where ONNX Runtime was installed with CUDA support. */
  provider?: 'cpu' | 'cuda';
  /** Intra-op threads; defaults to the model card's `intraOpThreads`, else ONNX Runtime's choice (one per core). */
  threads?: number;
  /**
   * Run the card's `stages` (the same function cut at its warps) instead of
   * the single graph where the card lists them; default true on the CPU.
   */
  staged?: boolean;
}

/** Model card stored beside `<model>.onnx` as `<model>.json` (only the fields the engine reads). */
interface ModelCard {
  name?: string;
  padMultiple?: number;
  /**
   * `graph` (default): the graph outputs the finished `frame`. `engine`: it
   * outputs only `flow` and `mask`, from inputs at `inputScale` of the frame
   * size, and the engine warps and blends the full-resolution frames itself.
   */
  synthesis?: 'graph' | 'engine';
  inputScale?: number;
  /**
   * With `inputScale`: the most pixels the model's input may have. Larger
   * frames are reduced further (720p at 1/8 instead of 1/4), so the network's
   * time stops growing with the frame size; the full-resolution warp keeps
   * the picture sharp.
   */
  maxInputPixels?: number;
  /**
   * With `engine` synthesis: how the full-resolution warp samples the
   * frames (warp-kernel.ts). Default `bilinear`, what the networks are
   * trained with.
   */
  warp?: WarpFilter;
  /**
   * Intra-op threads the engine gives the model unless told otherwise. A
   * network this small gains no time from a second thread, which only takes
   * CPU from decoding and encoding (fast at 720p: 14 ms either way, 14 vs
   * 20 ms of CPU; bench/RESULTS.md).
   */
  intraOpThreads?: number;
  /**
   * Files beside the model (in order) holding the same function cut into one
   * graph per block, the warps between them done by the engine
   * (staged-session.ts): faster on the CPU, where ONNX Runtime's GridSample
   * is slow.
   */
  stages?: string[];
  /**
   * Lucas-Kanade steps after each stage (train/ifnet.py's lk_refine), which
   * the staged runner does natively; the single graph has them inside.
   */
  lk?: number[];
  /** With `stages`: the first block's flows from a Lucas-Kanade pyramid, which the staged runner computes natively. */
  lkPyramid?: LkPyramid;
  /**
   * With `engine` synthesis: Lucas-Kanade steps after the network at
   * `scale` times its input size, on the frames' luma (lk-fine.ts).
   */
  lkFine?: LkFine;
}

const DEFAULT_PAD_MULTIPLE = 32; // what RIFE-family models need at scale 1

/**
 * Runs an ONNX graph that follows the interpolator contract:
 * inputs `img0`, `img1` (float32 `[1,3,H,W]`, RGB 0..1) and `timestep`
 * (`[1,1,1,1]`); output `frame` (or the first output) `[1,3,H,W]`, plus
 * `flow` and `mask` when the graph has them.
 */
export class OnnxInterpolator implements Interpolator {
  private readonly frameOutput: string;
  private readonly hasFlow: boolean;
  private readonly hasMask: boolean;
  /** Where the model wants the final synthesis done, and at which input scale it runs (see ModelCard). */
  readonly synthesis: 'graph' | 'engine';
  readonly inputScale: number;
  readonly maxInputPixels: number;
  readonly warpFilter: WarpFilter;
  /** Lucas-Kanade steps above the model's resolution (see ModelCard), if its card has them. */
  readonly lkFine?: LkFine;

  private constructor(
    readonly name: string,
    readonly padMultiple: number,
    private readonly session: Session,
    card: ModelCard = {},
  ) {
    const missing = ['img0', 'img1', 'timestep'].filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0) {
      throw new Error(
        `model "${name}" does not follow the interpolator contract: missing input(s) ${missing.join(', ')} ` +
          `(has ${session.inputNames.join(', ')}; expected img0, img1, timestep)`,
      );
    }
    this.frameOutput = session.outputNames.includes('frame') ? 'frame' : session.outputNames[0]!;
    this.hasFlow = session.outputNames.includes('flow');
    this.hasMask = session.outputNames.includes('mask');
    this.synthesis = card.synthesis ?? 'graph';
    this.inputScale = card.inputScale ?? 1;
    this.maxInputPixels = card.maxInputPixels ?? Infinity;
    this.warpFilter = card.warp ?? 'bilinear';
    this.lkFine = card.lkFine;
    if (this.synthesis === 'engine' && !(this.hasFlow && this.hasMask)) {
      throw new Error(`model "${name}" is marked for engine synthesis but lacks a flow or mask output`);
    }
    if (!(this.inputScale > 0 && this.inputScale <= 1)) throw new Error(`model "${name}": inputScale must be in (0, 1]`);
    if (!(this.maxInputPixels >= 256)) throw new Error(`model "${name}": maxInputPixels must be at least 256`);
    if (this.warpFilter !== 'bilinear' && this.warpFilter !== 'bicubic') throw new Error(`model "${name}": warp must be "bilinear" or "bicubic"`);
    if (this.lkFine !== undefined) {
      const { scale, steps } = this.lkFine;
      if (!(Number.isInteger(scale) && scale >= 1 && scale <= 16 && Number.isInteger(steps) && steps >= 0 && steps <= 16)) {
        throw new Error(`model "${name}": lkFine must be { scale: 1-16, steps: 0-16 }`);
      }
      if (this.synthesis !== 'engine') throw new Error(`model "${name}": lkFine needs engine synthesis`);
    }
  }

  /** Loads a model file; its card (`<model>.json`), if present, gives the name and pad multiple. */
  static async fromFile(path: string, options: SessionOptions & { padMultiple?: number } = {}): Promise<OnnxInterpolator> {
    if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
    const card = readCard(path);
    const threads = options.threads ?? card.intraOpThreads;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`model card of ${path}: intraOpThreads must be a positive integer`);
    let session: Session;
    try {
      session = await WorkerSession.create(stagesToRun(path, card, options) ?? path, sessionOptions(options.provider, threads));
    } catch (err) {
      throw new Error(`cannot load model ${path}: ${firstLine(err)}`);
    }
    const name = card.name ?? path.replace(/^.*\//, '').replace(/\.onnx$/, '');
    return new OnnxInterpolator(name, options.padMultiple ?? card.padMultiple ?? DEFAULT_PAD_MULTIPLE, session, card);
  }

  /** Builds an interpolator from an in-memory graph (the `blend` graph, test models). */
  static async fromBytes(bytes: Uint8Array, name: string, padMultiple: number, options: SessionOptions = {}): Promise<OnnxInterpolator> {
    const session = await WorkerSession.create(bytes, sessionOptions(options.provider, options.threads));
    return new OnnxInterpolator(name, padMultiple, session);
  }

  async interpolate(a: RgbImage, b: RgbImage, t: number): Promise<Interpolated> {
    if (this.synthesis === 'engine') throw new Error(`model "${this.name}" outputs flow only; use it through the engine's flow synthesis`);
    const out = await this.run(a, b, t);
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

  /**
   * Runs the model for its flow and mask only, cropped to the picture (the
   * padding's share of the field is dropped), at the model's own resolution.
   */
  async estimateFlow(a: RgbImage, b: RgbImage, t: number): Promise<FlowField> {
    if (!this.hasFlow || !this.hasMask) throw new Error(`model "${this.name}" has no flow and mask outputs`);
    const out = await this.run(a, b, t);
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

  async close(): Promise<void> {
    await this.session.release();
  }

  private run(a: RgbImage, b: RgbImage, t: number): Promise<Record<string, ort.Tensor>> {
    if (a.paddedWidth !== b.paddedWidth || a.paddedHeight !== b.paddedHeight) {
      throw new Error(`frame sizes differ: ${a.paddedWidth}x${a.paddedHeight} vs ${b.paddedWidth}x${b.paddedHeight}`);
    }
    const dims = [1, 3, a.paddedHeight, a.paddedWidth];
    return this.session.run({
      img0: new ort.Tensor('float32', a.data, dims),
      img1: new ort.Tensor('float32', b.data, dims),
      timestep: new ort.Tensor('float32', Float32Array.of(t), [1, 1, 1, 1]),
    });
  }
}

/** The top-left `width × height` of each of `planes` planes of `fw × fh` (row copies). */
export function cropPlanes(data: Float32Array, planes: number, fw: number, fh: number, width: number, height: number): Float32Array {
  if (width === fw && height === fh) return data;
  const out = new Float32Array(planes * width * height);
  for (let p = 0; p < planes; p++)
    for (let y = 0; y < height; y++) out.set(data.subarray((p * fh + y) * fw, (p * fh + y) * fw + width), (p * height + y) * width);
  return out;
}

/**
 * The card's stage files, when the engine should run them instead of the
 * model file: on the CPU only, since on a GPU the warps between stages would
 * each cost a round trip to host memory.
 */
function stagesToRun(modelPath: string, card: ModelCard, options: SessionOptions): StagedModel | undefined {
  if (!card.stages || options.staged === false || (options.provider ?? 'cpu') !== 'cpu') return undefined;
  if (!Array.isArray(card.stages) || !card.stages.every((f) => typeof f === 'string')) throw new Error(`model card of ${modelPath}: stages must be a list of file names`);
  const paths = card.stages.map((file) => join(dirname(modelPath), file));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`model card of ${modelPath} lists stage files that are missing: ${missing.join(', ')}`);
  if (card.lk !== undefined && !(Array.isArray(card.lk) && card.lk.every((n) => Number.isInteger(n) && n >= 0))) {
    throw new Error(`model card of ${modelPath}: lk must be a list of step counts`);
  }
  return { stages: paths, lk: card.lk ?? [], ...(card.lkPyramid ? { lkPyramid: card.lkPyramid } : {}) };
}

function readCard(modelPath: string): ModelCard {
  const cardPath = modelPath.replace(/\.onnx$/, '') + '.json';
  if (!existsSync(cardPath)) return {};
  try {
    return JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
  } catch (err) {
    throw new Error(`model card ${cardPath} is not valid JSON: ${firstLine(err)}`);
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!;
}
