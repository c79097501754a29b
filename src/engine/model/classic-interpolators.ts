import { buildOnnxModel } from '../runtime/onnx-builder.js';
import { FrameModel } from './frame-model.js';
import type { ModelOptions } from './model-session.js';

/**
 * Cross-fades the two frames, (1−t)·a + t·b, as a frame model. Expressed as
 * a three-node ONNX graph so the arithmetic runs in ONNX Runtime's vectorised
 * kernels; the engine's own blend (`BlendSynthesizer`) is native, and this
 * graph stays the reference the tests compare it with.
 */
export function createBlendInterpolator(options: Omit<ModelOptions, 'parts'> = {}): Promise<FrameModel> {
  return FrameModel.fromBytes(blendGraph(), 'blend', 1, options);
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
