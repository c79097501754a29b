import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage } from '../../base/errors.js';
import type { ExecutionProvider } from '../runtime/provider.js';
import type { LkPyramid, ModelParts, PartBlock } from '../runtime/session.js';

/** How the full-resolution warp samples the frames between their pixels (synthesis/warp-kernel.ts). */
export type WarpFilter = 'bilinear' | 'bicubic';

/** The card's `lkFine`: Lucas-Kanade steps after the network, at `scale` times its input size. */
export interface LkFine {
  scale: number;
  steps: number;
  /**
   * Also try one displacement for the whole picture, found on the luma, where
   * the network's field does not follow it (a scrolled page, a fast pan), and
   * take it where it matches the frames better (lk-refine.c, "global shift
   * candidate").
   */
  shift?: boolean;
}

/**
 * The card's `partsRung`: a ladder rung (synthesis/flow-rungs.ts) that runs
 * only the model's first `parts` parts and then `fineSteps` `lkFine` steps
 * instead of the card's.
 */
export interface PartsRung {
  parts: number;
  fineSteps: number;
}

/** Model card stored beside `<model>.onnx` as `<model>.json` (only the fields the engine reads). */
export interface ModelCard {
  name?: string;
  padMultiple?: number;
  /**
   * `graph` (default): the graph outputs the finished `frame` (a
   * `FrameModel`). `engine`: it outputs only `flow` and `mask`, from inputs
   * at `inputScale` of the frame size, and the engine warps and blends the
   * full-resolution frames itself (a `FlowModel`).
   */
  synthesis?: 'graph' | 'engine';
  inputScale?: number;
  /**
   * With `inputScale`: the most pixels the model's input may have. Larger
   * frames are reduced further (720p at 1/8 instead of 1/4), so the network's
   * time stops growing with the frame size; the full-resolution warp keeps
   * the picture sharp.
   */
  maxInputPixels?: number;
  /**
   * With `engine` synthesis: how the full-resolution warp samples the
   * frames. Default `bilinear`, what the networks are trained with.
   */
  warp?: WarpFilter;
  /**
   * With `engine` synthesis: samples that are the same in both frames, in a
   * run along their row, keep that value instead of the warped one (static
   * overlays stay still; native/warp-blend.c, hold_still). Default off.
   */
  holdStill?: boolean;
  /**
   * Intra-op threads the engine gives the model unless told otherwise. A
   * network this small gains no time from a second thread, which only takes
   * CPU from decoding and encoding (see bench/RESULTS.md, Settings chosen by
   * measurement).
   */
  intraOpThreads?: number;
  /**
   * Files beside the model (in order) holding each block's convolutions, its
   * parts, everything else of the same function done by the engine between
   * them (runtime/parted-session.ts): faster on the CPU, where ONNX Runtime
   * spends about half of each block's time on that small work. The key keeps
   * the name train/export_stages.py gives it, "stages".
   */
  stages?: string[];
  /** With `stages`: per part, what the engine computes around its convolutions (train/export_stages.py writes them). */
  blocks?: PartBlock[];
  /**
   * Lucas-Kanade steps after each part (train/ifnet.py's lk_refine), which
   * the parted session does natively; the single graph has them inside.
   */
  lk?: number[];
  /** With `stages`: the first block's flows from a Lucas-Kanade pyramid, which the parted session computes natively. */
  lkPyramid?: LkPyramid;
  /**
   * With `engine` synthesis: Lucas-Kanade steps after the network at
   * `scale` times its input size, on the frames' luma (synthesis/lk-fine.ts).
   */
  lkFine?: LkFine;
  /**
   * With `stages` and `lkFine`: a rung of the live ladder between the model
   * and its reused field, cheaper than the model and better than the reused
   * field, chosen on validation (train/README.md). Used only where the
   * parts run (the CPU).
   */
  partsRung?: PartsRung;
}

/** What RIFE-family models need at scale 1. */
export const DEFAULT_PAD_MULTIPLE = 32;

/** The card beside `modelPath`, or an empty one when there is none. */
export function readCard(modelPath: string): ModelCard {
  const cardPath = modelPath.replace(/\.onnx$/, '') + '.json';
  if (!existsSync(cardPath)) return {};
  try {
    return JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
  } catch (err) {
    throw new Error(`model card ${cardPath} is not valid JSON: ${firstLine(err)}`);
  }
}

/** The card's settings for where and how a frame is synthesized, with their defaults. */
export interface SynthesisSettings {
  synthesis: 'graph' | 'engine';
  inputScale: number;
  maxInputPixels: number;
  warp: WarpFilter;
  holdStill: boolean;
  /** Lucas-Kanade steps above the model's resolution, if the card has them. */
  lkFine?: LkFine;
  partsRung?: PartsRung;
}

/** The card's synthesis settings, checked; throws naming the model and the field. */
export function synthesisSettings(name: string, card: ModelCard): SynthesisSettings {
  const settings: SynthesisSettings = {
    synthesis: card.synthesis ?? 'graph',
    inputScale: card.inputScale ?? 1,
    maxInputPixels: card.maxInputPixels ?? Infinity,
    warp: card.warp ?? 'bilinear',
    holdStill: card.holdStill ?? false,
    ...(card.lkFine !== undefined ? { lkFine: card.lkFine } : {}),
    ...(card.partsRung !== undefined ? { partsRung: card.partsRung } : {}),
  };
  if (!(settings.inputScale > 0 && settings.inputScale <= 1)) throw new Error(`model "${name}": inputScale must be in (0, 1]`);
  if (!(settings.maxInputPixels >= 256)) throw new Error(`model "${name}": maxInputPixels must be at least 256`);
  if (settings.warp !== 'bilinear' && settings.warp !== 'bicubic') throw new Error(`model "${name}": warp must be "bilinear" or "bicubic"`);
  if (typeof settings.holdStill !== 'boolean') throw new Error(`model "${name}": holdStill must be true or false`);
  if (settings.lkFine !== undefined) {
    const { scale, steps, shift } = settings.lkFine;
    if (!(Number.isInteger(scale) && scale >= 1 && scale <= 16 && Number.isInteger(steps) && steps >= 0 && steps <= 16) ||
      (shift !== undefined && typeof shift !== 'boolean')) {
      throw new Error(`model "${name}": lkFine must be { scale: 1-16, steps: 0-16, shift?: true or false }`);
    }
    if (settings.synthesis !== 'engine') throw new Error(`model "${name}": lkFine needs engine synthesis`);
  }
  if (settings.partsRung !== undefined) {
    const { parts, fineSteps } = settings.partsRung;
    const count = card.stages?.length ?? 0;
    if (!(Number.isInteger(parts) && parts >= 1 && parts < count && Number.isInteger(fineSteps) && fineSteps >= 0 && fineSteps <= 16)) {
      throw new Error(`model "${name}": partsRung must be { parts: 1 to one less than its stages (${count}), fineSteps: 0-16 }`);
    }
    if (settings.lkFine === undefined) throw new Error(`model "${name}": partsRung needs lkFine`);
  }
  return settings;
}

/**
 * The card's parts (its `stages` files), when the engine should run them
 * instead of the model file: on the CPU only, since on a GPU the warps
 * between parts would each cost a round trip to host memory.
 */
export function partsToRun(modelPath: string, card: ModelCard, options: { provider?: ExecutionProvider; parts?: boolean }): ModelParts | undefined {
  if (!card.stages || options.parts === false || (options.provider ?? 'cpu') !== 'cpu') return undefined;
  if (!Array.isArray(card.stages) || !card.stages.every((f) => typeof f === 'string')) throw new Error(`model card of ${modelPath}: stages must be a list of file names`);
  const paths = card.stages.map((file) => join(dirname(modelPath), file));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`model card of ${modelPath} lists part files (stages) that are missing: ${missing.join(', ')}`);
  if (card.lk !== undefined && !(Array.isArray(card.lk) && card.lk.every((n) => Number.isInteger(n) && n >= 0))) {
    throw new Error(`model card of ${modelPath}: lk must be a list of step counts`);
  }
  const keys = ['scale', 'channels', 'radius', 'smooth', 'invT'] as const;
  if (!Array.isArray(card.blocks) || card.blocks.length !== paths.length || !card.blocks.every((b) => keys.every((k) => typeof b?.[k] === 'number'))) {
    throw new Error(`model card of ${modelPath}: blocks must list { ${keys.join(', ')} } for each of its ${paths.length} parts (train/export_stages.py writes them)`);
  }
  const blocks = card.blocks.map((b) => Object.fromEntries(keys.map((k) => [k, b[k]])) as unknown as PartBlock);
  return { parts: paths, blocks, lk: card.lk ?? [], ...(card.lkPyramid ? { lkPyramid: card.lkPyramid } : {}) };
}

/** The first line of a caught value's message: ONNX Runtime's and JSON's run on over several. */
export function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]!;
}
