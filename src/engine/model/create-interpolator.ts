import { repoPath } from '../../base/paths.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { OnnxInterpolator, type SessionOptions } from './onnx-interpolator.js';
import { BlendSynthesizer, DupSynthesizer, synthesizerFor, type Synthesizer } from '../synthesis/synthesis.js';

export type InterpolatorKind = 'model' | 'blend' | 'dup';
export const INTERPOLATOR_KINDS: readonly InterpolatorKind[] = ['model', 'blend', 'dup'];

const MODELS_DIR = repoPath('models') + '/';

/** The shipped model the engine uses by default (`quality` is one `--model quality` away). */
export const DEFAULT_MODEL_PATH = `${MODELS_DIR}fast.onnx`;

/** A bare name such as `fast` or `quality` means the shipped `models/<name>.onnx`; anything else is a path. */
export function resolveModelPath(nameOrPath: string): string {
  return /^[\w-]+$/.test(nameOrPath) && existsSync(`${MODELS_DIR}${nameOrPath}.onnx`) ? `${MODELS_DIR}${nameOrPath}.onnx` : nameOrPath;
}

export interface InterpolatorChoice extends SessionOptions {
  /** Defaults to `model` when a model file is available, else `blend`. */
  kind?: InterpolatorKind;
  modelPath?: string;
}

/** Resolves `kind` as the CLI does: an explicit `--model` implies `model`. */
export function resolveKind(choice: InterpolatorChoice): InterpolatorKind {
  if (choice.kind) return choice.kind;
  return choice.modelPath || existsSync(DEFAULT_MODEL_PATH) ? 'model' : 'blend';
}

/** The synthesizer for `--interp` / `--model`. */
export async function createSynthesizer(choice: InterpolatorChoice): Promise<Synthesizer> {
  switch (resolveKind(choice)) {
    case 'dup':
      return new DupSynthesizer();
    case 'blend':
      return new BlendSynthesizer();
    case 'model':
      return synthesizerFor(await OnnxInterpolator.fromFile(resolveModelPath(choice.modelPath ?? DEFAULT_MODEL_PATH), choice));
  }
}

/**
 * The first stand-in on a live stream's deadline ladder (see `SlotDeadline`):
 * the shipped `fast` behind any slower model (`quality`, or a model by path),
 * so that a slot the model would finish late is still motion-compensated
 * rather than blended. None where the stream runs `fast` already, or no model.
 */
export async function createFastStandIn(choice: InterpolatorChoice): Promise<Synthesizer | undefined> {
  if (resolveKind(choice) !== 'model' || !existsSync(DEFAULT_MODEL_PATH)) return undefined;
  if (resolve(resolveModelPath(choice.modelPath ?? DEFAULT_MODEL_PATH)) === resolve(DEFAULT_MODEL_PATH)) return undefined;
  const { provider, threads, staged } = choice;
  return synthesizerFor(await OnnxInterpolator.fromFile(DEFAULT_MODEL_PATH, { provider, threads, staged }));
}
