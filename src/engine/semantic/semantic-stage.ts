import { repoPath } from '../../base/paths.js';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { Frame } from 'node-av/lib';
import type { FrameTiming } from '../timing/frame-timing.js';
import { SceneCutDetector, type SceneCutVerdict } from './scene-cut.js';
import { type SemanticFeatures, SemanticEncoder } from './semantic-encoder.js';
import { FlowHead } from './flow-head.js';
import type { FlowField } from '../model/flow-field.js';
import type { FlowModel } from '../model/flow-model.js';
import type { RgbImage } from '../model/interpolator.js';
import { type InterpolatorChoice, resolveKind } from '../model/model-choice.js';
import type { ExecutionProvider } from '../runtime/provider.js';

/** The shipped flow-correction heads (trained by `train/flow_head.py`): one behind `quality`, one behind `fast` (each card names its model). */
export const DEFAULT_FLOW_HEAD = repoPath('models', 'flow-head.onnx');
export const DEFAULT_FLOW_HEADS = [DEFAULT_FLOW_HEAD, repoPath('models', 'flow-head-fast.onnx')];

/** The shipped semantic encoder (trained by `train/dino.py`). */
export const DEFAULT_SEMANTIC_MODEL = repoPath('models', 'semantic.onnx');

/** Below this cosine similarity of pooled features, consecutive frames are different scenes, unless the model card says otherwise. */
export const DEFAULT_SCENE_CUT_THRESHOLD = 0.5;

export interface SemanticChoice {
  /** Run the semantic stage (scene cuts). */
  semantic?: boolean;
  /** The encoder: ours or an official DINOv2 ONNX export (default `models/semantic.onnx`). */
  semanticModel?: string;
  /** Overrides the model card's scene-cut threshold. */
  sceneCutThreshold?: number;
  /** The square size frames are resized to for the encoder (default: the card's, else 224). */
  semanticSize?: number;
  /** Correct a flow model's flows from the frames' patch features with the flow head (default off: it does not carry beyond the footage, see bench/RESULTS.md, Flow correction; only flow models have flows). */
  flowCorrection?: boolean;
  /** The flow-correction head (default: the shipped one trained behind the interpolator's resolution). */
  flowHeadModel?: string;
  provider?: ExecutionProvider;
}

/**
 * Corrects a flow model's fields on one stream with the flow head trained
 * behind that model, fed the semantic features the stage found for each
 * frame. A flow synthesizer takes one at its creation.
 */
export interface FlowCorrector {
  readonly head: FlowHead;
  /**
   * `field` (the model's, between decoded frames `a` and `b`, which it saw
   * converted as `ra` and `rb`) corrected; unchanged when the stage has not
   * analysed both frames. The frames stay the caller's.
   */
  correct(field: FlowField, a: Frame, b: Frame, ra: RgbImage, rb: RgbImage): Promise<FlowField>;
}

/**
 * The engine's semantic stage: the encoder's features of each input frame,
 * and from them whether a scene cut lies before it. It runs as its own
 * pipeline stage between the decoder and the interpolator, on its own ONNX
 * Runtime session with one thread, so the features of frame N+1 are
 * computed while the interpolator works on the pair (N−1, N): the stage adds
 * throughput cost, not latency, as long as it is faster than interpolation.
 */
export class SemanticStage implements AsyncDisposable {
  /** Cuts found so far. */
  cuts = 0;
  /** Each analysed frame's features, while the frame lives: the flow head reads them for the pair it corrects. */
  private readonly features = new WeakMap<Frame, SemanticFeatures>();

  private constructor(
    private readonly encoder: SemanticEncoder,
    private readonly detector: SceneCutDetector,
    /** The flow heads loaded; `flowCorrector` picks the one trained behind a model. */
    private readonly heads: FlowHead[],
  ) {}

  static async create(choice: SemanticChoice & InterpolatorChoice): Promise<SemanticStage> {
    const modelPath = choice.semanticModel ?? DEFAULT_SEMANTIC_MODEL;
    if (!existsSync(modelPath)) throw new Error(`semantic encoder not found: ${modelPath}`);
    const encoder = await SemanticEncoder.create({ modelPath, provider: choice.provider, threads: 1, size: choice.semanticSize });
    const threshold = choice.sceneCutThreshold ?? cardThreshold(modelPath) ?? DEFAULT_SCENE_CUT_THRESHOLD;
    let heads: FlowHead[] = [];
    try {
      // Only a model can have flows to correct; blend and dup have none.
      if (choice.flowCorrection === true && resolveKind(choice) === 'model') {
        const paths = choice.flowHeadModel !== undefined ? [choice.flowHeadModel] : DEFAULT_FLOW_HEADS.filter((path) => existsSync(path));
        heads = await Promise.all(paths.map((path) => FlowHead.create(path, { provider: choice.provider, threads: 1 })));
      }
    } catch (error) {
      await encoder[Symbol.asyncDispose]();
      throw error;
    }
    return new SemanticStage(encoder, new SceneCutDetector(threshold), heads);
  }

  /**
   * The flow correction for `model`, when a head was loaded for it: a head
   * corrects the model it was trained behind, the one its card names, else
   * (a card without the name) any model working at the input scale it was
   * trained at. Only a flow model has flows to correct.
   */
  flowCorrector(model: FlowModel): FlowCorrector | undefined {
    const head =
      this.heads.find((h) => h.interpolator === model.name) ??
      this.heads.find((h) => h.interpolator === undefined && (h.inputScale === undefined || Math.abs(h.inputScale - model.inputScale) < 1e-6));
    if (!head) return undefined;
    return {
      head,
      correct: async (field, a, b, ra, rb) => {
        const [fa, fb] = [this.features.get(a), this.features.get(b)];
        return fa && fb ? head.correct(field, ra, rb, fa, fb) : field;
      },
    };
  }

  get threshold(): number {
    return this.detector.threshold;
  }

  /** Analyses the next frame (it stays the caller's; its features are kept while it lives) and stamps its features span on `timing`. */
  async analyse(frame: Frame, timing: FrameTiming, now: () => number = () => performance.now()): Promise<SceneCutVerdict> {
    timing.featuresStart = now();
    const features = await this.encoder.encode(frame);
    timing.featuresEnd = now();
    this.features.set(frame, features);
    const verdict = this.detector.processFeatures(features.pooled);
    if (verdict.cut) this.cuts++;
    return verdict;
  }

  /** Forgets the previous frame: the next one starts a new sequence. */
  reset(): void {
    this.detector.reset();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.heads.map((head) => head[Symbol.asyncDispose]()));
    await this.encoder[Symbol.asyncDispose]();
  }

  /** `[Symbol.asyncDispose]`, for the callers that close explicitly. */
  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

/** Intra-op threads for the interpolator when the semantic stage takes one core: the rest (at least one). */
export function interpolatorThreads(semantic: boolean, threads: number | undefined): number | undefined {
  if (threads !== undefined || !semantic) return threads;
  return Math.max(1, availableParallelism() - 1);
}

/** The scene-cut threshold a model card records (`sceneCut.threshold`, measured by `bench/scene-cuts.ts`). */
function cardThreshold(modelPath: string): number | undefined {
  const card = modelPath.replace(/\.onnx$/, '.json');
  if (!existsSync(card)) return undefined;
  const threshold = (JSON.parse(readFileSync(card, 'utf8')) as { sceneCut?: { threshold?: number } }).sceneCut?.threshold;
  return typeof threshold === 'number' ? threshold : undefined;
}
