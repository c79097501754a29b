import { existsSync, readFileSync } from 'node:fs';
import { ort, sessionOptions } from './ort.js';
import type { Interpolated, Interpolator, RgbImage } from './interpolator.js';

export interface SessionOptions {
  /** `cpu` (default) or `cuda` where ONNX Runtime was installed with CUDA support. */
  provider?: 'cpu' | 'cuda';
  /** Intra-op threads; defaults to ONNX Runtime's choice (one per core). */
  threads?: number;
}

/** Model card stored beside `<model>.onnx` as `<model>.json` (only the fields the engine reads). */
interface ModelCard {
  name?: string;
  padMultiple?: number;
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

  private constructor(
    readonly name: string,
    readonly padMultiple: number,
    private readonly session: ort.InferenceSession,
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
  }

  /** Loads a model file; its card (`<model>.json`), if present, gives the name and pad multiple. */
  static async fromFile(path: string, options: SessionOptions & { padMultiple?: number } = {}): Promise<OnnxInterpolator> {
    if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
    const card = readCard(path);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, sessionOptions(options.provider, options.threads));
    } catch (err) {
      throw new Error(`cannot load model ${path}: ${firstLine(err)}`);
    }
    const name = card.name ?? path.replace(/^.*\//, '').replace(/\.onnx$/, '');
    return new OnnxInterpolator(name, options.padMultiple ?? card.padMultiple ?? DEFAULT_PAD_MULTIPLE, session);
  }

  /** Builds an interpolator from an in-memory graph (the `blend` graph, test models). */
  static async fromBytes(bytes: Uint8Array, name: string, padMultiple: number, options: SessionOptions = {}): Promise<OnnxInterpolator> {
    const session = await ort.InferenceSession.create(bytes, sessionOptions(options.provider, options.threads));
    return new OnnxInterpolator(name, padMultiple, session);
  }

  async interpolate(a: RgbImage, b: RgbImage, t: number): Promise<Interpolated> {
    if (a.paddedWidth !== b.paddedWidth || a.paddedHeight !== b.paddedHeight) {
      throw new Error(`frame sizes differ: ${a.paddedWidth}x${a.paddedHeight} vs ${b.paddedWidth}x${b.paddedHeight}`);
    }
    const dims = [1, 3, a.paddedHeight, a.paddedWidth];
    const feeds = {
      img0: new ort.Tensor('float32', a.data, dims),
      img1: new ort.Tensor('float32', b.data, dims),
      timestep: new ort.Tensor('float32', Float32Array.of(t), [1, 1, 1, 1]),
    };
    const out = await this.session.run(feeds);
    const frame = out[this.frameOutput]!;
    const [, channels, h, w] = frame.dims;
    if (channels !== 3 || h !== a.paddedHeight || w !== a.paddedWidth) {
      throw new Error(`model "${this.name}" returned a ${frame.dims.join('x')} frame for a ${dims.join('x')} input`);
    }
    const result: Interpolated = {
      frame: { width: a.width, height: a.height, paddedWidth: w, paddedHeight: h, data: frame.data as Float32Array },
    };
    if (this.hasFlow) result.flow = { dims: out.flow!.dims, data: out.flow!.data as Float32Array };
    if (this.hasMask) result.mask = { dims: out.mask!.dims, data: out.mask!.data as Float32Array };
    return result;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
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
