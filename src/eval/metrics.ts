import { ort, sessionOptions } from '../engine/runtime/ort.js';
import { buildOnnxModel } from '../engine/runtime/onnx-builder.js';
import type { RgbImage } from '../engine/model/interpolator.js';

export interface ImageScores {
  psnr: number;
  ssim: number;
}

/** PSNR of identical images is infinite; means over a set use this cap instead. */
export const PSNR_CAP = 100;

/**
 * PSNR and SSIM between a synthesized frame and the true one, as one small
 * ONNX graph: the prediction is first quantised to 8 bits (what an encoder
 * would receive), PSNR is over all RGB samples of the full frame, SSIM is
 * Wang et al.'s with an 11×11 Gaussian window (σ = 1.5) per channel, valid
 * region only, averaged over channels and positions.
 */
export class FrameMetrics implements AsyncDisposable {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(): Promise<FrameMetrics> {
    return new FrameMetrics(await ort.InferenceSession.create(metricsGraph(), sessionOptions()));
  }

  /** Both images unpadded (`paddedWidth === width`), same size. */
  async score(prediction: RgbImage, truth: RgbImage): Promise<ImageScores> {
    if (prediction.width !== truth.width || prediction.height !== truth.height) {
      throw new Error(`size mismatch: ${prediction.width}x${prediction.height} vs ${truth.width}x${truth.height}`);
    }
    const dims = [1, 3, truth.paddedHeight, truth.paddedWidth];
    const out = await this.session.run({
      pred: new ort.Tensor('float32', prediction.data, dims),
      truth: new ort.Tensor('float32', truth.data, dims),
    });
    const mse = (out.mse!.data as Float32Array)[0]!;
    const psnr = mse === 0 ? PSNR_CAP : Math.min(PSNR_CAP, 10 * Math.log10((255 * 255) / mse));
    return { psnr, ssim: (out.ssim!.data as Float32Array)[0]! };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.session.release();
  }
}

function gaussianWindow(size: number, sigma: number): Float32Array {
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma * sigma)));
  const sum = g.reduce((a, b) => a + b, 0);
  const w = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) w[c * size * size + y * size + x] = (g[y]! * g[x]!) / (sum * sum);
  return w;
}

export function metricsGraph(): Uint8Array {
  const image = [1, 3, 'height', 'width'];
  const scalar = (name: string, value: number) => ({ name, dims: [], type: 'float' as const, values: [value] });
  const conv = (input: string, output: string) => ({
    op: 'Conv',
    inputs: [input, 'window'],
    outputs: [output],
    attributes: { group: 3, kernel_shape: [11, 11] },
  });
  return buildOnnxModel({
    name: 'frame-metrics',
    inputs: [
      { name: 'pred', dims: image },
      { name: 'truth', dims: image },
    ],
    outputs: [
      { name: 'mse', dims: [] },
      { name: 'ssim', dims: [] },
    ],
    initializers: [
      { name: 'window', dims: [3, 1, 11, 11], type: 'float', values: gaussianWindow(11, 1.5) },
      scalar('k255', 255),
      scalar('zero', 0),
      scalar('two', 2),
      scalar('c1', (0.01 * 255) ** 2),
      scalar('c2', (0.03 * 255) ** 2),
    ],
    nodes: [
      // 8-bit values: x = round(clip(255·pred)), y = round(255·truth)
      { op: 'Mul', inputs: ['pred', 'k255'], outputs: ['p255'] },
      { op: 'Clip', inputs: ['p255', 'zero', 'k255'], outputs: ['pclip'] },
      { op: 'Round', inputs: ['pclip'], outputs: ['x'] },
      { op: 'Mul', inputs: ['truth', 'k255'], outputs: ['t255'] },
      { op: 'Round', inputs: ['t255'], outputs: ['y'] },
      // MSE over every sample
      { op: 'Sub', inputs: ['x', 'y'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'd'], outputs: ['d2'] },
      { op: 'ReduceMean', inputs: ['d2'], outputs: ['mse'], attributes: { keepdims: 0 } },
      // SSIM: local means, variances and covariance under the Gaussian window
      conv('x', 'mx'),
      conv('y', 'my'),
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['xx'] },
      { op: 'Mul', inputs: ['y', 'y'], outputs: ['yy'] },
      { op: 'Mul', inputs: ['x', 'y'], outputs: ['xy'] },
      conv('xx', 'exx'),
      conv('yy', 'eyy'),
      conv('xy', 'exy'),
      { op: 'Mul', inputs: ['mx', 'mx'], outputs: ['mx2'] },
      { op: 'Mul', inputs: ['my', 'my'], outputs: ['my2'] },
      { op: 'Mul', inputs: ['mx', 'my'], outputs: ['mxy'] },
      { op: 'Sub', inputs: ['exx', 'mx2'], outputs: ['vx'] },
      { op: 'Sub', inputs: ['eyy', 'my2'], outputs: ['vy'] },
      { op: 'Sub', inputs: ['exy', 'mxy'], outputs: ['cxy'] },
      // ((2·mx·my + c1)(2·cxy + c2)) / ((mx² + my² + c1)(vx + vy + c2))
      { op: 'Mul', inputs: ['mxy', 'two'], outputs: ['n1a'] },
      { op: 'Add', inputs: ['n1a', 'c1'], outputs: ['n1'] },
      { op: 'Mul', inputs: ['cxy', 'two'], outputs: ['n2a'] },
      { op: 'Add', inputs: ['n2a', 'c2'], outputs: ['n2'] },
      { op: 'Add', inputs: ['mx2', 'my2'], outputs: ['d1a'] },
      { op: 'Add', inputs: ['d1a', 'c1'], outputs: ['d1'] },
      { op: 'Add', inputs: ['vx', 'vy'], outputs: ['d2a'] },
      { op: 'Add', inputs: ['d2a', 'c2'], outputs: ['d2s'] },
      { op: 'Mul', inputs: ['n1', 'n2'], outputs: ['num'] },
      { op: 'Mul', inputs: ['d1', 'd2s'], outputs: ['den'] },
      { op: 'Div', inputs: ['num', 'den'], outputs: ['map'] },
      { op: 'ReduceMean', inputs: ['map'], outputs: ['ssim'], attributes: { keepdims: 0 } },
    ],
  });
}
