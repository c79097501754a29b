import type { Frame } from 'node-av/lib';
import { RingBuffer, RingBufferClosedError } from '../base/ring-buffer.js';

/** One concurrent step of a pipeline; its `output` buffer feeds the next step. */
export interface Stage {
  run(): Promise<void>;
  /** Closed when `run()` finishes, so the next stage drains it and ends too. */
  output?: Pick<RingBuffer<unknown>, 'close' | 'clear'>;
}

/**
 * Runs pipeline stages (decode → engine → encode) concurrently. When one
 * fails, every buffer is cleared, which unblocks and stops the others; the
 * error thrown is the first real cause, not a neighbour's "buffer closed".
 */
export async function runStages(stages: Stage[]): Promise<void> {
  const abort = () => {
    for (const stage of stages) stage.output?.clear();
  };
  const results = await Promise.allSettled(
    stages.map((stage) =>
      stage.run().then(
        () => stage.output?.close(),
        (err) => {
          abort();
          throw err;
        },
      ),
    ),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length) throw failures.find((e) => !(e instanceof RingBufferClosedError)) ?? failures[0];
}

/** Pushes frames (or items holding one) in order; frees the ones that could not be pushed. */
export async function pushAll<T extends Frame | { frame: Frame }>(ring: RingBuffer<T>, items: T[]): Promise<void> {
  let i = 0;
  try {
    for (; i < items.length; i++) await ring.push(items[i]!);
  } catch (err) {
    for (; i < items.length; i++) {
      const item = items[i]!;
      ('frame' in item ? (item as { frame: Frame }).frame : (item as Frame)).free();
    }
    throw err;
  }
}
