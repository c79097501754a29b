import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/logger.js';

/** What the registry needs of a stream (a `LiveStream` fits it as it is). */
export interface RegisteredStream<V> {
  readonly key: string;
  /** True once the stream has ended or failed: it is then kept listed for the retention time only. */
  readonly finished: boolean;
  readonly logger: Logger;
  on(event: 'state', listener: (state: string) => void): unknown;
  /** Takes a viewer of the upconverted stream; the stream owns it from then on. */
  addViewer(viewer: V): void;
  /** Takes a viewer of the original; owned likewise. */
  addOriginalViewer(viewer: V): void;
  /** Stops the stream and deletes its files; its viewers are closed with it. */
  close(): Promise<void>;
}

/** A WHIP session or a WHEP viewer, as the registry indexes it: found by id to be ended by a DELETE. */
export interface Session {
  readonly id: string;
  on(event: 'end', listener: (reason: string) => void): unknown;
  close(reason?: string): void;
}

export interface StreamRegistryOptions {
  /** How long an ended stream stays listed and its HLS served, so players can finish (default 30 s). */
  retentionMs?: number;
}

/**
 * The server's streams, one per key, and the keys published now.
 *
 * Ownership, mediasoup-style: the registry owns its streams; a stream owns
 * its input (a WHIP session among them) and its viewers. The registry keeps
 * only an index of sessions by id, so that a `DELETE` finds its session;
 * an entry goes when its session ends. Closing the registry closes every
 * stream, and each stream closes what it owns.
 *
 * A stream that ends stays listed for `retentionMs`, so a player can play
 * out the last segments, then is retired: unlisted, and its files deleted.
 * A new stream on the same key replaces the old one at once.
 */
export class StreamRegistry<S extends RegisteredStream<V>, V extends Session = Session> implements AsyncDisposable {
  private readonly streams = new Map<string, S>();
  private readonly expiry = new Map<S, NodeJS.Timeout>();
  /** Keys whose publisher (RTMP, WHIP, the test pattern) is connected now. */
  private readonly publishing = new Set<string>();
  private readonly sessions = { whip: new Map<string, { key: string; session: Session }>(), whep: new Map<string, { key: string; session: V }>() };
  private closed = false;

  constructor(private readonly options: StreamRegistryOptions = {}) {}

  /** Lists `stream` under its key, retiring whatever was there: the key's publisher is new, so that one is over or finishing. */
  add(stream: S): void {
    if (this.closed) {
      this.retire(stream);
      return;
    }
    const previous = this.streams.get(stream.key);
    if (previous) this.retire(previous);
    this.streams.set(stream.key, stream);
    stream.on('state', () => {
      if (!stream.finished || this.expiry.has(stream) || this.streams.get(stream.key) !== stream) return;
      const timer = setTimeout(() => this.retire(stream), this.options.retentionMs ?? 30_000);
      timer.unref();
      this.expiry.set(stream, timer);
    });
  }

  /** The stream listed under `key`, live or ended. */
  get(key: string): S | undefined {
    return this.streams.get(key);
  }

  /** Every listed stream. */
  list(): S[] {
    return [...this.streams.values()];
  }

  /** A publisher connected on `key`: the policy refuses a second one while it stays. */
  publisherJoined(key: string): void {
    this.publishing.add(key);
  }

  publisherLeft(key: string): void {
    this.publishing.delete(key);
  }

  hasPublisher(key: string): boolean {
    return this.publishing.has(key);
  }

  /** Keys with a publisher now. */
  get publishers(): number {
    return this.publishing.size;
  }

  /** Indexes a WHIP session by id until it ends. Its stream's input owns it. */
  indexPublisher(key: string, session: Session): void {
    this.sessions.whip.set(session.id, { key, session });
    session.on('end', () => this.sessions.whip.delete(session.id));
  }

  /**
   * Hands a WHEP viewer to `stream`, which owns it from here (a finished
   * stream closes it at once), and indexes it by id until it ends.
   */
  addViewer(stream: S, viewer: V, original: boolean): void {
    // Indexed first: a viewer the stream closes at once must leave the index too.
    this.sessions.whep.set(viewer.id, { key: stream.key, session: viewer });
    viewer.on('end', () => this.sessions.whep.delete(viewer.id));
    if (original) stream.addOriginalViewer(viewer);
    else stream.addViewer(viewer);
  }

  /** WHEP viewers indexed on `key` now, of every variant. */
  viewerCount(key: string): number {
    let count = 0;
    for (const entry of this.sessions.whep.values()) if (entry.key === key) count++;
    return count;
  }

  /** The WHIP session or WHEP viewer `id` on `key`; undefined when it has ended or belongs to another key. */
  session(protocol: 'whip' | 'whep', key: string, id: string): Session | undefined {
    const entry = this.sessions[protocol].get(id);
    return entry?.key === key ? entry.session : undefined;
  }

  /** Closes every stream (and so everything they own) and forgets them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
    const streams = this.list();
    this.streams.clear();
    await Promise.all(streams.map((stream) => stream.close()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Unlists a stream and closes it, deleting its files. */
  private retire(stream: S): void {
    clearTimeout(this.expiry.get(stream));
    this.expiry.delete(stream);
    if (this.streams.get(stream.key) === stream) this.streams.delete(stream.key);
    stream.close().catch((error: unknown) => stream.logger.warn(`stream '${stream.key}': cleanup failed: ${errorMessage(error)}`));
  }
}
