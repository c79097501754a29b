import ort from 'onnxruntime-node';
import type { ExecutionProvider } from './provider.js';

// ONNX Runtime's warnings (unused initializers, thread affinity) are noise to our users.
ort.env.logLevel = 'error';

export { ort };

/**
 * Session options shared by every graph the engine runs. ONNX Runtime's
 * worker threads spin while waiting for work by default; next to the decoder
 * and encoder threads on a small machine that spinning steals the cores they
 * need, so it is off.
 */
export function sessionOptions(provider: ExecutionProvider = 'cpu', threads?: number): ort.InferenceSession.SessionOptions {
  return {
    // TensorRT leaves the nodes it cannot build engines for to the next provider: CUDA, which it needs anyway.
    executionProviders: provider === 'tensorrt' ? ['tensorrt', 'cuda'] : [provider],
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}
