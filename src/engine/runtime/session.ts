import { ort } from './ort.js';

/**
 * What the engine needs of an ONNX Runtime session, wherever it runs: a
 * `WorkerSession` (a thread of its own), a `PartedSession` (a model's parts
 * in turn) or a plain session run inline (`inlineSession`).
 */
export interface Session extends AsyncDisposable {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A plain ONNX Runtime session as a `Session`; it runs on the calling thread. */
export function inlineSession(session: ort.InferenceSession): Session {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds) => session.run(feeds),
    [Symbol.asyncDispose]: () => session.release(),
  };
}

/** The card's `lkPyramid`: the first block's flows from Lucas-Kanade alone, over its grey pair pooled by each of `pools` in turn. */
export interface LkPyramid {
  pools: number[];
  steps: number;
}

/**
 * A model cut into several ONNX graphs, its parts (one per IFBlock), run in
 * turn by `PartedSession`: the part files in order, the Lucas-Kanade steps
 * after each part (none if absent), and the first block's pyramid.
 */
export interface ModelParts {
  parts: readonly string[];
  lk?: readonly number[];
  lkPyramid?: LkPyramid;
}
