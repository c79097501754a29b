import { ort } from './ort.js';

/**
 * What the engine needs of an ONNX Runtime session, wherever it runs: a
 * `WorkerSession` (a thread of its own), a `PartedSession` (a model's parts
 * in turn) or a plain session run inline (`inlineSession`).
 */
export interface Session extends AsyncDisposable {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The graph's inputs and outputs with their element types and shapes, where the session knows them (a single graph). */
  readonly signature?: Signature;
  /** How many parts a model in parts has (`PartedSession`); absent for a single graph. */
  readonly parts?: number;
  run(feeds: Record<string, ort.Tensor>, options?: RunScope): Promise<Record<string, ort.Tensor>>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How much of a model one run covers; a session that cannot do what is asked rejects rather than ignore it. */
export interface RunScope {
  /**
   * A model in parts: run only its first `parts` parts (with their
   * Lucas-Kanade steps), and answer with the running field they leave as
   * `flow` and `mask` (a cheaper, coarser field: a rung of the model's
   * ladder, see synthesis/flow-rungs.ts).
   */
  parts?: number;
}

/** A graph input or output: its name, element type (`float32`, `float16`, ...) and shape (a string names a dynamic axis). */
export interface ValueInfo {
  name: string;
  type: string;
  dims: (number | string)[];
}

export interface Signature {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

function valueInfos(metadata: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return metadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, dims: [...m.shape] } : { name: m.name, type: 'non-tensor', dims: [] }));
}

/** A plain ONNX Runtime session as a `Session`; it runs on the calling thread. */
export function inlineSession(session: ort.InferenceSession): Session {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    signature: { inputs: valueInfos(session.inputMetadata), outputs: valueInfos(session.outputMetadata) },
    run: (feeds, options) => (options?.parts === undefined ? session.run(feeds) : Promise.reject(new Error('a single graph cannot run part of itself'))),
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
  blocks: readonly PartBlock[];
  lk?: readonly number[];
  lkPyramid?: LkPyramid;
}

/**
 * The card's `blocks`, one per part: what the engine computes around the
 * part's convolutions (native/ifblock.c). `channels` is the part's input
 * planes; the matching cost has radius `radius`, and the matcher smooths it
 * over `smooth` x `smooth` and weighs it with `invT`.
 */
export interface PartBlock {
  scale: number;
  channels: number;
  radius: number;
  smooth: number;
  invT: number;
}

/**
 * Small graphs run before and after a model, in the same thread and on the
 * same provider (adapted-session.ts): `before` turns the engine's feeds into
 * the model's inputs, `after` its outputs into the engine's.
 */
export interface SessionAdapter {
  before?: Uint8Array;
  after?: Uint8Array;
}
