import { existsSync } from 'node:fs';
import { repoPath } from '../../base/paths.js';
import type { ModelOptions } from './model-session.js';

/** What `--interp` chooses: a model, or one of the two classic synthesizers. */
export type InterpolatorKind = 'model' | 'blend' | 'dup';
export const INTERPOLATOR_KINDS: readonly InterpolatorKind[] = ['model', 'blend', 'dup'];

const MODELS_DIR = repoPath('models') + '/';

/** The shipped model the engine uses by default (`quality` is one `--model quality` away). */
export const DEFAULT_MODEL_PATH = `${MODELS_DIR}fast.onnx`;

/** A bare name such as `fast` or `quality` means the shipped `models/<name>.onnx`; anything else is a path. */
export function resolveModelPath(nameOrPath: string): string {
  return /^[\w-]+$/.test(nameOrPath) && existsSync(`${MODELS_DIR}${nameOrPath}.onnx`) ? `${MODELS_DIR}${nameOrPath}.onnx` : nameOrPath;
}

/** `--interp` / `--model` and how to load the model. */
export interface InterpolatorChoice extends ModelOptions {
  /** Defaults to `model` when a model file is available, else `blend`. */
  kind?: InterpolatorKind;
  modelPath?: string;
}

/** Resolves `kind` as the CLI does: an explicit `--model` implies `model`. */
export function resolveKind(choice: InterpolatorChoice): InterpolatorKind {
  if (choice.kind) return choice.kind;
  return choice.modelPath || existsSync(DEFAULT_MODEL_PATH) ? 'model' : 'blend';
}
