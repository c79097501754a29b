import type { Packet } from 'node-av/lib';

/**
 * Packet writes to one muxer, one at a time, and one more waiting.
 *
 * node-av's muxer does this itself when it has several streams, in a
 * background worker, but a write that fails there (a full disk) is thrown
 * where nobody awaits it, which ended the process (issue #28). So the sinks
 * open their muxers with `useAsyncWrite: false` and queue here instead:
 * audio and video come from different stages, concurrently.
 *
 * As with node-av's queue (one write running, one waiting), `write()`
 * returns as soon as its packet is queued and at most one other waits, so
 * the caller's next frame is encoded while this one is written: awaiting
 * each write instead cut how much the convert stages overlap by half
 * (test/convert/convert-timing.test.ts). A failed write is thrown from a
 * later `write()` or from `drained()`.
 */
/** Writes queued at once: one running, one waiting (node-av's `AsyncQueue(1)` and its worker). */
const QUEUE_DEPTH = 2;

export class SerialWrites {
  /** The last write queued. */
  private tail: Promise<void> = Promise.resolve();
  /** Writes queued and not yet finished, oldest first. */
  private readonly queued: Promise<void>[] = [];
  private failure?: { error: unknown };

  /**
   * Queues `packet` for `writePacket`; the packet stays the caller's (the
   * queue holds its own reference, which shares the data). Rejects with the
   * error of an earlier write, if one failed.
   */
  async write(packet: Packet, writePacket: (packet: Packet) => Promise<void>): Promise<void> {
    this.throwFailure();
    const own = packet.clone();
    if (!own) throw new Error('cannot reference the packet to write');
    this.tail = this.tail
      .then(() => (this.failure ? undefined : writePacket(own)))
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => own.free());
    this.queued.push(this.tail);
    while (this.queued.length > QUEUE_DEPTH) await this.queued.shift();
    this.throwFailure();
  }

  /** Resolves once every queued write has finished; rejects with the first that failed. */
  async drained(): Promise<void> {
    await this.tail;
    this.queued.length = 0;
    this.throwFailure();
  }

  /** Resolves once every queued write has finished, failed or not: the muxer may be closed then. */
  settled(): Promise<void> {
    return this.tail;
  }

  private throwFailure(): void {
    if (this.failure) throw this.failure.error;
  }
}
