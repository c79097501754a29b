import { buildOnnxModel } from '../runtime/onnx-builder.js';
import { OnnxInterpolator, type SessionOptions } from './onnx-interpolator.js';

/**
 * Cross-fades the two frames, (1−t)·a + t·b. Expressed as a two-node ONNX
 * graph so the arithmetic runs in ONNX Runtime's vectorised kernels and the
 * fallback goes through the same code path as the model.
 */
export function createBlendInterpolator(options: SessionOptions = {}): Promise<OnnxInterpolator> {
  return OnnxInterpolator.fromBytes(blendGraph(), 'blend', 1, options);
}

export function blendGraph(): Uint8Array {
  const image = [1, 3, 'height', 'width'];
  return buildOnnxModel({
    name: 'blend',
    inputs: [
      { name: 'img0', dims: image },
      { name: 'img1', dims: image },
      { name: 'timestep', dims: [1, 1, 1, 1] },
    ],
    outputs: [{ name: 'frame', dims: image }],
    nodes: [
      // a + t·(b − a): one fewer multiply than the textbook form
      { op: 'Sub', inputs: ['img1', 'img0'], outputs: ['diff'] },
      { op: 'Mul', inputs: ['diff', 'timestep'], outputs: ['step'] },
      { op: 'Add', inputs: ['img0', 'step'], outputs: ['frame'] },
    ],
  });
}
