import { resolveKind, type InterpolatorChoice } from '../engine/model/model-choice.js';
import { createFastFallback, createSynthesizer } from '../engine/synthesis/create-synthesizer.js';
import { interpolatorThreads, type SemanticChoice, SemanticStage } from '../engine/semantic/semantic-stage.js';
import { ProviderFailover } from '../engine/synthesis/provider-failover.js';
import { BlendSynthesizer, DupSynthesizer, StillPairSynthesizer, type Synthesizer } from '../engine/synthesis/synthesis.js';

export interface EngineChoice extends InterpolatorChoice, SemanticChoice {
  /**
   * Wraps the synthesizer (the reliability tests inject faults with it). A
   * wrapped synthesizer gets blend as its fallback, as a model does, since
   * the wrapper may fail where it does not.
   */
  wrap?: (synthesizer: Synthesizer) => Synthesizer;
  /** Load the fallbacks of per-slot deadlines (live): `fast` behind a slower model. */
  deadlineFallbacks?: boolean;
  /** Hears why `fast` did not load as a deadline fallback; the others then go on without it. */
  onFastFallbackFailed?: (error: unknown) => void;
  /** Hears the failure of a model on a GPU provider that sends its slots to the model on the CPU (provider-failover.ts). */
  onProviderFailover?: (error: unknown) => void;
}

/**
 * The engine one pipeline runs: its synthesizer, the fallback on error that
 * takes a slot over when the synthesizer throws, the cheaper fallbacks of
 * live deadlines and the semantic stage. The one place they are made;
 * disposing the parts closes every one of them.
 */
export class EngineParts implements AsyncDisposable {
  private readonly dup = new DupSynthesizer();

  private constructor(
    readonly synthesizer: Synthesizer,
    /** Blend behind a model (or a wrapped synthesizer): a model failing mid-stream hands its slots to it instead of ending the job. */
    readonly fallback: Synthesizer | undefined,
    /** The shipped `fast` model behind a slower one, as the first deadline fallback. */
    readonly fast: Synthesizer | undefined,
    readonly semantic: SemanticStage | undefined,
    /** The still-pair path in front of a model (`Upconverter`'s `still`): a still gap costs a blend, not a model run. */
    readonly still: Synthesizer | undefined,
  ) {}

  static async create(choice: EngineChoice): Promise<EngineParts> {
    let semantic: SemanticStage | undefined;
    let synthesizer: Synthesizer | undefined;
    let fallback: Synthesizer | undefined;
    try {
      if (choice.semantic) semantic = await SemanticStage.create(choice);
      const engine = { ...choice, threads: interpolatorThreads(semantic !== undefined, choice.threads) };
      synthesizer = await createSynthesizer(engine, semantic);
      if (resolveKind(choice) === 'model' && engine.provider !== undefined && engine.provider !== 'cpu') {
        // A GPU lost mid-stream hands the model's slots to its CPU copy, not to blend for good (without the semantic stage: it ran on the same GPU).
        const cpu = { ...engine, provider: 'cpu' as const };
        synthesizer = new ProviderFailover(synthesizer, () => createSynthesizer(cpu), choice.onProviderFailover);
      }
      if (choice.wrap) synthesizer = choice.wrap(synthesizer);
      fallback = resolveKind(choice) === 'model' || choice.wrap ? new BlendSynthesizer() : undefined;
      const fast = choice.deadlineFallbacks
        ? await createFastFallback(engine).catch((error: unknown) => {
            choice.onFastFallbackFailed?.(error);
            return undefined;
          })
        : undefined;
      const still = resolveKind(choice) === 'model' ? new StillPairSynthesizer() : undefined;
      return new EngineParts(synthesizer, fallback, fast, semantic, still);
    } catch (error) {
      await closeAll([synthesizer, fallback, semantic]).catch(() => {
        // The load error is the one to report; a failed cleanup of what did load adds nothing.
      });
      throw error;
    }
  }

  /**
   * The deadline fallbacks, tried in order, cheapest last: the model's own
   * rungs (its ladder: cheaper settings, each motion-compensated), `fast`
   * and its rungs (behind a slower model), blend (unless the synthesizer is
   * blend), then dup, which costs nothing. None under dup: nothing is
   * cheaper. The rungs are views their model owns and closes.
   */
  deadlineFallbacks(): Synthesizer[] | undefined {
    if (this.synthesizer.name === 'dup') return undefined;
    const withRungs = (s: Synthesizer) => [s, ...(s.rungs?.() ?? [])];
    return [...(this.synthesizer.rungs?.() ?? []), ...(this.fast ? withRungs(this.fast) : []), ...(this.fallback ? [this.fallback] : []), this.dup];
  }

  /** Closes every part, even when one fails; then throws the first failure. */
  async [Symbol.asyncDispose](): Promise<void> {
    await closeAll([this.synthesizer, this.fallback, this.fast, this.semantic, this.still]);
  }
}

/** One after the other, in the order given (the synthesizer before the semantic stage whose flow head it may hold). */
async function closeAll(parts: (AsyncDisposable | undefined)[]): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const part of parts) {
    try {
      await part?.[Symbol.asyncDispose]();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
