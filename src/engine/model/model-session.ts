import { ort } from '../runtime/ort.js';
import type { ExecutionProvider } from '../runtime/provider.js';
import type { RunScope, Session } from '../runtime/session.js';
import type { RgbImage } from './interpolator.js';

/** How a model is loaded. */
export interface ModelOptions {
  /** `cpu` (default), or a provider `chooseProvider` (runtime/provider.ts) found working. */
  provider?: ExecutionProvider;
  /** Intra-op threads; defaults to the model card's `intraOpThreads`, else ONNX Runtime's choice (one per core). */
  threads?: number;
  /**
   * Run the model's parts (the same function cut at its warps, listed in the
   * card's `stages`) instead of the single graph where the card lists them;
   * default true on the CPU.
   */
  parts?: boolean;
}

const CONTRACT = ['img0', 'img1', 'timestep'];

/**
 * A model graph's session, checked against the contract that frame and flow
 * models share: inputs `img0`, `img1` (float32 `[1,3,H,W]`, RGB 0..1) and
 * `timestep` (`[1,1,1,1]`). It owns the session.
 */
export class ModelSession implements AsyncDisposable {
  private constructor(
    private readonly session: Session,
    readonly name: string,
  ) {}

  /** Takes `session` over; when its graph breaks the contract, disposes of it and rejects with the reason. */
  static async of(session: Session, name: string): Promise<ModelSession> {
    const missing = CONTRACT.filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0) {
      await session[Symbol.asyncDispose]();
      throw new Error(
        `model "${name}" does not follow the interpolator contract: missing input(s) ${missing.join(', ')} ` +
          `(has ${session.inputNames.join(', ')}; expected ${CONTRACT.join(', ')})`,
      );
    }
    return new ModelSession(session, name);
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** How many parts the model runs in, when it was loaded in parts. */
  get parts(): number | undefined {
    return this.session.parts;
  }

  /** Runs the graph on the pair at `t`; `a` and `b` must have the same padded size. */
  run(a: RgbImage, b: RgbImage, t: number, options?: RunScope): Promise<Record<string, ort.Tensor>> {
    if (a.paddedWidth !== b.paddedWidth || a.paddedHeight !== b.paddedHeight) {
      throw new Error(`frame sizes differ: ${a.paddedWidth}x${a.paddedHeight} vs ${b.paddedWidth}x${b.paddedHeight}`);
    }
    const dims = [1, 3, a.paddedHeight, a.paddedWidth];
    return this.session.run({
      img0: new ort.Tensor('float32', a.data, dims),
      img1: new ort.Tensor('float32', b.data, dims),
      timestep: new ort.Tensor('float32', Float32Array.of(t), [1, 1, 1, 1]),
    }, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.session[Symbol.asyncDispose]();
  }
}
