import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBlendInterpolator, DupInterpolator } from './classic-interpolators.js';
import type { Interpolator } from './interpolator.js';
import { OnnxInterpolator, type SessionOptions } from './onnx-interpolator.js';

export type InterpolatorKind = 'model' | 'blend' | 'dup';
export const INTERPOLATOR_KINDS: readonly InterpolatorKind[] = ['model', 'blend', 'dup'];

/** The model shipped in the repository's `models/` folder. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../../models/fast.onnx', import.meta.url));

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

export async function createInterpolator(choice: InterpolatorChoice): Promise<Interpolator> {
  switch (resolveKind(choice)) {
    case 'dup':
      return new DupInterpolator();
    case 'blend':
      return createBlendInterpolator(choice);
    case 'model':
      return OnnxInterpolator.fromFile(choice.modelPath ?? DEFAULT_MODEL_PATH, choice);
  }
}
