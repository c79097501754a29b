/**
 * What crosses between a `WorkerSession` and its thread
 * (ort-session-worker.ts): the start data, the messages both ways, and
 * tensors in a form that can be posted.
 */
import { ort } from './ort.js';
import type { ModelParts, RunScope, SessionAdapter, Signature } from './session.js';

/** A tensor as it crosses between threads. */
export interface WireTensor {
  type: string;
  data: Float32Array | Uint8Array | Int32Array | BigInt64Array | Float64Array | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array;
  dims: number[];
}

/** The thread's start data: what to load and how. */
export interface SessionStart {
  /** A model file, a graph's bytes, or a model in parts (parted-session.ts). */
  model: string | Uint8Array | ModelParts;
  options: ort.InferenceSession.SessionOptions;
}
export type SessionRequest =
  | { kind: 'run'; id: number; feeds: Record<string, WireTensor>; options?: RunScope }
  | { kind: 'adapt'; adapter: SessionAdapter }
  | { kind: 'release' };
export type SessionReply =
  | { kind: 'ready'; inputNames: string[]; outputNames: string[]; signature?: Signature; parts?: number }
  | { kind: 'failed'; error: string }
  | { kind: 'result'; id: number; outputs: Record<string, WireTensor> }
  | { kind: 'error'; id: number; error: string }
  | { kind: 'released' };

/**
 * Tensors as they cross to the other thread, and the buffers to hand over
 * rather than copy: all of them when they are `own` (a run's outputs), else
 * only the copies made here. A view is copied to just its part, since posting
 * it would clone the entire buffer behind it.
 */
export function toWire(tensors: Record<string, ort.Tensor>, own: boolean): { wire: Record<string, WireTensor>; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const wire = Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => {
      const data = t.data as WireTensor['data'];
      const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      const sent = whole ? data : data.slice();
      if (own || !whole) transfer.add(sent.buffer as ArrayBuffer);
      return [name, { type: t.type, data: sent, dims: [...t.dims] }];
    }),
  );
  return { wire, transfer: [...transfer] };
}

/** Tensors again, on the receiving thread. */
export function fromWire(wire: Record<string, WireTensor>): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(wire).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)]));
}
