import { resolveKind } from '../engine/model/model-choice.js';
import { EngineParts } from '../pipeline/engine-parts.js';
import type { Logger } from '../base/logger.js';
import type { ServeOptions } from '../config/serve-options.js';
import { errorMessage } from '../base/errors.js';

/** What `/readyz` says: ready, or why not. */
export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * The readiness probe's engine half: loads the engine once at start, as a
 * stream would (the model, when the interpolator is one, and the semantic
 * stage, when any stream runs it), so `/readyz` reports a missing or
 * broken model before any publisher finds out. Nothing stays loaded.
 */
export class EngineProbe {
  private state: Readiness = { ready: false, reason: 'the server is starting' };
  private check?: Promise<void>;

  constructor(
    private readonly options: ServeOptions,
    private readonly logger: Logger,
  ) {}

  /** Where the check stands: starting, loading, ready, or why the model failed. */
  get readiness(): Readiness {
    return this.state;
  }

  /** Starts the check (once); `settled()` waits for it. */
  start(): void {
    this.check ??= this.run();
  }

  /** Resolves once the check has settled (`readiness` then says how it went). */
  async settled(): Promise<void> {
    await this.check;
  }

  private async run(): Promise<void> {
    const semantic = this.options.semantic || Object.values(this.options.streams ?? {}).some((s) => s.semantic);
    const model = resolveKind(this.options) === 'model';
    if (!model && !semantic) {
      this.state = { ready: true };
      return;
    }
    this.state = { ready: false, reason: 'loading the model' };
    try {
      // Loaded as a stream loads it, then let go: what loads here loads for a stream.
      const parts = await EngineParts.create({ ...this.options, semantic });
      await parts[Symbol.asyncDispose]();
      this.state = { ready: true };
    } catch (error) {
      const reason = `the model failed to load: ${errorMessage(error).split('\n')[0]}`;
      this.logger.warn(reason);
      this.state = { ready: false, reason };
    }
  }
}
