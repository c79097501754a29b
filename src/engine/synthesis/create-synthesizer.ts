import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlowModel } from '../model/flow-model.js';
import { loadModel } from '../model/load-model.js';
import { DEFAULT_MODEL_PATH, type InterpolatorChoice, resolveKind, resolveModelPath } from '../model/model-choice.js';
import type { SemanticStage } from '../semantic/semantic-stage.js';
import { BlendSynthesizer, DupSynthesizer, synthesizerFor, type Synthesizer } from './synthesis.js';

/**
 * The synthesizer for `--interp` / `--model`. With `semantic`, a flow model
 * gets the stage's flow correction where the stage has a head trained behind
 * it (see `SemanticStage.flowCorrector`). The caller owns the synthesizer.
 */
export async function createSynthesizer(choice: InterpolatorChoice, semantic?: SemanticStage): Promise<Synthesizer> {
  switch (resolveKind(choice)) {
    case 'dup':
      return new DupSynthesizer();
    case 'blend':
      return new BlendSynthesizer();
    case 'model': {
      const model = await loadModel(resolveModelPath(choice.modelPath ?? DEFAULT_MODEL_PATH), choice);
      return synthesizerFor(model, model instanceof FlowModel ? semantic?.flowCorrector(model) : undefined);
    }
  }
}

/**
 * The first fallback on a live stream's deadline (see `SlotDeadline`): the
 * shipped `fast` behind any slower model (`quality`, or a model by path), so
 * that a slot the model would finish late is still motion-compensated rather
 * than blended. None where the stream runs `fast` already, or no model. The
 * caller owns the synthesizer.
 */
export async function createFastFallback(choice: InterpolatorChoice): Promise<Synthesizer | undefined> {
  if (resolveKind(choice) !== 'model' || !existsSync(DEFAULT_MODEL_PATH)) return undefined;
  if (resolve(resolveModelPath(choice.modelPath ?? DEFAULT_MODEL_PATH)) === resolve(DEFAULT_MODEL_PATH)) return undefined;
  const { provider, threads, parts } = choice;
  return synthesizerFor(await loadModel(DEFAULT_MODEL_PATH, { provider, threads, parts }));
}
