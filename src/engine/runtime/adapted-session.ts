import { ort } from './ort.js';
import { inlineSession, type Session, type SessionAdapter } from './session.js';

/**
 * A model between its adapter's graphs (`SessionAdapter`), run in turn on
 * one thread: `before` on the feeds, the model on its outputs (by name),
 * `after` on the model's outputs. This is how a graph with another input
 * layout (a community RIFE file packing both frames and t into one tensor,
 * possibly in float16) takes the engine's `img0`, `img1` and `timestep`:
 * the packing runs in ONNX Runtime's kernels, on the model's provider.
 */
export async function adaptedSession(model: Session, adapter: SessionAdapter, options: ort.InferenceSession.SessionOptions): Promise<Session> {
  const before = adapter.before ? inlineSession(await ort.InferenceSession.create(adapter.before, options)) : undefined;
  const after = adapter.after ? inlineSession(await ort.InferenceSession.create(adapter.after, options)) : undefined;
  const pick = (values: Record<string, ort.Tensor>, names: readonly string[]) => Object.fromEntries(names.map((n) => [n, values[n]!]));
  return {
    inputNames: before?.inputNames ?? model.inputNames,
    outputNames: after?.outputNames ?? model.outputNames,
    ...(model.parts !== undefined ? { parts: model.parts } : {}),
    async run(feeds, options) {
      const inputs = before ? await before.run(feeds) : feeds;
      const outputs = await model.run(pick(inputs, model.inputNames), options);
      return after ? after.run(pick(outputs, after.inputNames)) : outputs;
    },
    async [Symbol.asyncDispose]() {
      await before?.[Symbol.asyncDispose]();
      await after?.[Symbol.asyncDispose]();
      await model[Symbol.asyncDispose]();
    },
  };
}
