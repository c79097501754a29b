import type { Frame } from 'node-av/lib';
import type { Synthesizer } from '../../src/engine/synthesis/synthesis.js';

/**
 * A slow synthesizer for deadline tests: a real one (blend, dup) that takes
 * `ms` longer. `wait` decides what "longer" means: real time by default, or
 * a fake clock's advance, so a test can be exact and instant.
 */
export class DelayedSynthesizer implements Synthesizer {
  readonly name: string;
  calls = 0;

  constructor(
    private readonly inner: Synthesizer,
    public ms: number,
    private readonly wait: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    name?: string,
  ) {
    this.name = name ?? `slow-${inner.name}`;
  }

  async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    this.calls++;
    await this.wait(this.ms);
    return this.inner.synthesize(a, b, t);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.inner[Symbol.asyncDispose]();
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

/** A clock that moves only when told to. */
export class FakeClock {
  time = 0;
  readonly now = () => this.time;
  readonly advance = async (ms: number) => {
    this.time += ms;
  };
}
