/**
 * Bounded FIFO between a producer (decoder) and a consumer (engine).
 *
 * Files and live sources want opposite things when the consumer is slow:
 * a file must lose nothing, so its producer waits (`'wait'`); a live source
 * must not fall further and further behind, so the oldest frame is dropped
 * and counted (`'drop-oldest'`). Dropped items are handed to `onDrop` so their
 * owner can free native memory.
 */
export type FullPolicy = 'wait' | 'drop-oldest';

export interface RingBufferOptions<T> {
  capacity: number;
  policy: FullPolicy;
  onDrop?: (item: T) => void;
}

export class RingBufferClosedError extends Error {
  constructor() {
    super('ring buffer is closed');
  }
}

export class RingBuffer<T> implements AsyncIterable<T> {
  readonly capacity: number;
  readonly policy: FullPolicy;
  /** Items discarded by the `'drop-oldest'` policy. */
  dropped = 0;

  private readonly slots: (T | undefined)[];
  private head = 0; // index of the oldest item
  private count = 0;
  private closed = false;
  private readonly onDrop?: (item: T) => void;
  // At most one waiting consumer and one waiting producer: the buffer is single-producer, single-consumer.
  private wakeConsumer?: () => void;
  private wakeProducer?: () => void;

  constructor(options: RingBufferOptions<T>) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`ring buffer capacity must be a positive integer, got ${options.capacity}`);
    }
    this.capacity = options.capacity;
    this.policy = options.policy;
    this.onDrop = options.onDrop;
    this.slots = new Array(options.capacity);
  }

  get size(): number {
    return this.count;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Adds an item. With `'wait'` the promise resolves once there is room;
   * with `'drop-oldest'` it resolves at once, evicting the oldest item if full.
   */
  async push(item: T): Promise<void> {
    while (this.count === this.capacity && this.policy === 'wait' && !this.closed) {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
    if (this.closed) throw new RingBufferClosedError();
    if (this.count === this.capacity) {
      const oldest = this.slots[this.head] as T;
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.dropped++;
      this.onDrop?.(oldest);
    }
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count++;
    this.wake('consumer');
  }

  /** Removes the oldest item; resolves `undefined` once the buffer is closed and empty. */
  async shift(): Promise<T | undefined> {
    while (this.count === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
    const item = this.slots[this.head] as T;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.wake('producer');
    return item;
  }

  /** No more pushes; the consumer still drains what is buffered. */
  close(): void {
    this.closed = true;
    this.wake('consumer');
    this.wake('producer');
  }

  /** Closes and hands every buffered item to `onDrop` (for aborts, where nobody will drain). */
  clear(): void {
    this.close();
    while (this.count > 0) {
      const item = this.slots[this.head] as T;
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.onDrop?.(item);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = await this.shift();
      if (item === undefined) return;
      yield item;
    }
  }

  private wake(who: 'consumer' | 'producer'): void {
    const fn = who === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (who === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    fn?.();
  }
}
