import { existsSync } from 'node:fs';
import { sessionOptions } from '../runtime/ort.js';
import { WorkerSession } from '../runtime/worker-session.js';
import { FlowModel } from './flow-model.js';
import { FrameModel } from './frame-model.js';
import { DEFAULT_PAD_MULTIPLE, firstLine, partsToRun, readCard, synthesisSettings } from './model-card.js';
import { type ModelOptions, ModelSession } from './model-session.js';
import { probeOutputs } from './output-probe.js';
import { detectRifeFormat } from './rife-formats.js';

/**
 * Loads a model file as the kind its card (`<model>.json`, if present) says:
 * a `FrameModel` (the graph makes the frame) or a `FlowModel` (`synthesis:
 * "engine"`: the graph outputs flows, the engine makes the frame). The card
 * also gives the name, the pad multiple, the thread count and the parts to
 * run instead of the single graph. A model whose outputs on a small test
 * pair are not finite is refused (output-probe.ts). The caller owns the model.
 */
export async function loadModel(path: string, options: ModelOptions & { padMultiple?: number } = {}): Promise<FrameModel | FlowModel> {
  if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
  const card = readCard(path);
  const threads = options.threads ?? card.intraOpThreads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`model card of ${path}: intraOpThreads must be a positive integer`);
  let session: WorkerSession;
  try {
    session = await WorkerSession.create(partsToRun(path, card, options) ?? path, sessionOptions(options.provider, threads));
  } catch (err) {
    throw new Error(`cannot load model ${path}: ${firstLine(err)}`);
  }
  const name = card.name ?? path.replace(/^.*\//, '').replace(/\.onnx$/, '');
  let formatPadMultiple: number | undefined;
  try {
    // A community RIFE file (rife-formats.ts) is fed through its adapter's graphs.
    const format = detectRifeFormat(name, path, session.signature, session.inputNames);
    if (format) {
      await session.adapt(format.adapter);
      formatPadMultiple = format.padMultiple;
    }
  } catch (err) {
    await session[Symbol.asyncDispose]();
    throw new Error(firstLine(err));
  }
  const padMultiple = options.padMultiple ?? card.padMultiple ?? formatPadMultiple ?? DEFAULT_PAD_MULTIPLE;
  const model = await ModelSession.of(session, name);
  try {
    await probeOutputs(model, padMultiple);
    const settings = synthesisSettings(name, card);
    return settings.synthesis === 'engine' ? new FlowModel(name, padMultiple, model, settings) : new FrameModel(name, padMultiple, model);
  } catch (err) {
    await model[Symbol.asyncDispose]();
    throw err;
  }
}
