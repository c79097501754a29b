import type { Frame } from 'node-av/lib';
import { errorMessage } from '../../base/errors.js';
import type { Synthesizer } from './synthesis.js';

/**
 * A model on a GPU provider with the same model on the CPU behind it. When a
 * run on the GPU fails (the device was lost, its driver reset), the stream's
 * slots go to a CPU copy of the model from then on, loaded at that moment,
 * rather than to blend for the rest of the stream. The slot that failed, and
 * those while the copy loads, throw: the pipeline's fallback on error (blend)
 * renders them, and counts them. The copy's slots count under `<name>/cpu`.
 *
 * The GPU model's ladder rungs stay what `rungs` returned at the start (the
 * deadline fallbacks are chosen once per stream): after a failover they fail
 * too, and their slots go to blend.
 */
export class ProviderFailover implements Synthesizer {
  private cpu?: Synthesizer;
  private loading?: Promise<void>;
  private cpuFailure?: unknown;
  private gpuFailure?: unknown;

  constructor(
    private readonly gpu: Synthesizer,
    /** Loads the same model on the CPU; called once, at the first failure. */
    private readonly loadCpu: () => Promise<Synthesizer>,
    /** Hears the failure that ended the GPU's part, once. */
    private readonly onFailover?: (error: unknown) => void,
  ) {}

  get name(): string {
    return this.cpu ? `${this.gpu.name}/cpu` : this.gpu.name;
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    if (this.cpu) return this.cpu.synthesize(a, b, t);
    if (this.gpuFailure === undefined) {
      try {
        return await this.gpu.synthesize(a, b, t);
      } catch (error) {
        this.failOver(error);
        throw error;
      }
    }
    throw new Error(
      this.cpuFailure === undefined
        ? 'the model is loading on the CPU after its provider failed'
        : `the model did not load on the CPU after its provider failed: ${errorMessage(this.cpuFailure)}`,
    );
  }

  canRender(a: Frame, b: Frame, t: number): boolean {
    const active = this.cpu ?? this.gpu;
    return active.canRender?.(a, b, t) ?? true;
  }

  warmUp(frame: Frame): Promise<void> {
    return (this.cpu ?? this.gpu).warmUp?.(frame) ?? Promise.resolve();
  }

  rungs(): readonly Synthesizer[] {
    return this.gpu.rungs?.() ?? [];
  }

  private failOver(error: unknown): void {
    this.gpuFailure = error;
    this.onFailover?.(error);
    this.loading = this.loadCpu().then(
      (cpu) => {
        this.cpu = cpu;
      },
      (failure: unknown) => {
        this.cpuFailure = failure;
      },
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.loading;
    let failure: { error: unknown } | undefined;
    for (const part of [this.cpu, this.gpu]) {
      try {
        await part?.[Symbol.asyncDispose]();
      } catch (error) {
        // A GPU that failed may fail to release too: that was said when it failed.
        if (part !== this.gpu || this.gpuFailure === undefined) failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}
