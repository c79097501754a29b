import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { Logger } from '../../base/logger.js';
import { errorMessage } from '../../base/errors.js';
import { type SrtAddon, srtAddon } from './srt-addon.js';
import { parseStreamId } from './stream-id.js';

/**
 * An SRT ingest server for OBS-style publishers:
 * `srt://host:port?streamid=publish:<key>`, MPEG-TS in SRT's live mode.
 * Each accepted publish becomes an `SrtPublish` whose `ts` stream carries
 * what the publisher sends, for FFmpeg to demux. libsrt runs on threads of
 * its own (`srt-listener.c`); this file holds the policy.
 *
 * Policies:
 * - The streamid and `admit`, the synchronous rules, are checked during the
 *   handshake: a refused caller never connects, and hears why as SRT's
 *   rejection code (1000 + the HTTP status: 1401 wrong secret, 1403 key
 *   refused, 1409 key already live, 1503 closing).
 * - `authorize`, which may answer later (an external auth hook), is asked
 *   once connected: a refusal closes the connection. The key already live
 *   is checked again then, as two callers may have passed the handshake at
 *   once; the stream already live is never disturbed by a newcomer.
 * - A publish ends when the caller disconnects, or when the consumer
 *   destroys `ts`, which drops the caller.
 * - Slow consumer: SRT's live mode cannot be paused, so past
 *   `maxBufferedBytes` unread, what comes is dropped (counted) until the
 *   consumer catches up. Memory stays bounded; the picture recovers at the
 *   next keyframe.
 */

export type SrtVerdict = true | { status: number; reason: string };

export interface SrtServerOptions {
  /** The rules known at once (key, secret, limits), asked during the handshake; every key may when absent. */
  admit?: (key: string, secret: string | undefined, remoteAddress: string) => SrtVerdict;
  /** The rules that may answer later (an auth hook), asked once connected; `true` or the reason to drop the caller. */
  authorize?: (key: string, secret: string | undefined, remoteAddress: string) => true | string | Promise<true | string>;
  /** Keys being published by other means (RTMP, WHIP, a pull): refused like a key already live here. */
  isLive?: (key: string) => boolean;
  /** SRT's receive latency, ms (default 120, libsrt's): how long a lost packet may take to be sent again. */
  latencyMs?: number;
  /** MPEG-TS bytes held for a slow consumer before more are dropped (default 8 MiB). */
  maxBufferedBytes?: number;
  logger?: Logger;
  /** The native listener; tests pass a fake. Default: `srt-listener.c`'s. */
  addon?: SrtAddon;
}

export interface SrtServerEvents {
  publish: [publish: SrtPublish];
}

export interface SrtPublishEvents {
  /** The publisher left, and why: `'disconnected'`, `'consumer closed'`, `'server closed'`, `'publish listener failed'` or `'receive failed: …'` (libsrt's error). */
  end: [reason: string];
}

const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** SRT's own rejection codes are HTTP's plus 1000 (libsrt's access_control.h). */
const REJECT_OFFSET = 1000;
const BAD_REQUEST = 400;
const CONFLICT = 409;
const UNAVAILABLE = 503;

const stderrLogger: Logger = {
  info: () => {},
  warn: (message) => process.stderr.write(`frc srt: ${message}\n`),
};

/** One live stream: who sends it, and its bytes as MPEG-TS. */
export class SrtPublish extends EventEmitter<SrtPublishEvents> implements AsyncDisposable {
  /** The MPEG-TS byte stream; it ends when the publisher leaves. */
  readonly ts: Readable;
  /** Every payload byte the publisher sent, dropped ones included: what a bitrate limit must count. */
  bytesReceived = 0;
  /** Bytes dropped because the consumer fell behind. */
  bytesDropped = 0;

  /** @internal Created by the server on an accepted connection. */
  constructor(
    readonly key: string,
    readonly remoteAddress: string,
    private readonly onClose: () => void,
    logger: Logger,
  ) {
    super();
    this.ts = new Readable({ read: () => {} });
    this.ts.on('close', () => this.onClose());
    this.ts.on('error', (error) => logger.warn(`MPEG-TS stream of '${key}' from ${remoteAddress}: ${error.message}`));
  }

  /** Drops the publisher's connection. */
  close(): void {
    this.ts.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** A connection as the server tracks it, from its handshake to its end. */
interface Connection {
  key: string;
  publish: SrtPublish;
  /** Announced to `'publish'` listeners (authorized); until then its bytes wait in `ts`. */
  started: boolean;
  ended: boolean;
}

export class SrtServer extends EventEmitter<SrtServerEvents> implements AsyncDisposable {
  private readonly logger: Logger;
  private readonly maxBufferedBytes: number;
  private readonly addon?: SrtAddon;
  private readonly connections = new Map<number, Connection>();
  /** Stream keys being published right now. */
  private readonly live = new Set<string>();
  private handle?: object;
  private closed = false;

  constructor(private readonly options: SrtServerOptions = {}) {
    super();
    this.logger = options.logger ?? stderrLogger;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.addon = options.addon ?? srtAddon();
  }

  /** Whether this build has the listener (libsrt's headers were there when it was built). */
  get available(): boolean {
    return this.addon !== undefined;
  }

  /** Starts accepting callers; resolves with the bound UDP port (useful with port 0). */
  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    if (!this.addon) throw Object.assign(new Error('this build has no SRT listener: install libsrt-gnutls-dev (or libsrt-openssl-dev) and rebuild (npm install)'), { code: 'ENOSRT' });
    // libsrt binds addresses only.
    const address = isIP(host) ? host : (await lookup(host)).address;
    const { handle, port: bound } = this.addon.listen(address, port, this.options.latencyMs ?? 120, (event, id, text, address) => this.onEvent(event, id, text, address));
    this.handle = handle;
    return bound;
  }

  /** Stops listening and drops every caller; their publishes end with `'server closed'`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) this.addon?.stop(this.handle);
    this.handle = undefined;
    for (const [id, connection] of this.connections) this.end(id, connection, 'server closed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private onEvent(event: string, id: number, text: string | Buffer | undefined, address: string | undefined): number | void {
    try {
      switch (event) {
        case 'ask':
          return this.handshake(String(text ?? ''), address ?? 'unknown');
        case 'accept':
          this.accepted(id, String(text ?? ''), address ?? 'unknown');
          return;
        case 'data':
          this.received(id, text as Buffer);
          return;
        case 'end': {
          const connection = this.connections.get(id);
          if (connection) this.end(id, connection, String(text ?? 'disconnected'));
          return;
        }
      }
    } catch (error) {
      // Nothing a caller sends may take the server down; the caller is refused or dropped instead.
      this.logger.warn(`srt ${event}: ${errorMessage(error)}`);
      if (event === 'ask') return REJECT_OFFSET + UNAVAILABLE;
      this.drop(id);
    }
  }

  /** The handshake's verdict: 0 lets the caller in, else SRT's rejection code. */
  private handshake(streamId: string, remoteAddress: string): number {
    const refusal = this.refusal(streamId, remoteAddress);
    if (refusal === undefined) return 0;
    // The reason is the caller's to hear (as a code); logs never see a secret, so never the streamid.
    this.logger.info(`refused SRT caller from ${remoteAddress}: ${refusal.reason}`);
    return REJECT_OFFSET + refusal.status;
  }

  private refusal(streamId: string, remoteAddress: string): { status: number; reason: string } | undefined {
    if (this.closed) return { status: UNAVAILABLE, reason: 'the server is closing' };
    const request = parseStreamId(streamId);
    if (!request.ok) return { status: BAD_REQUEST, reason: request.reason };
    if (this.listenerCount('publish') === 0) return { status: UNAVAILABLE, reason: 'this server has no consumer for streams' };
    const verdict = this.options.admit?.(request.key, request.secret, remoteAddress) ?? true;
    if (verdict !== true) return verdict;
    if (this.busy(request.key)) return { status: CONFLICT, reason: 'this stream key is already live' };
    return undefined;
  }

  private busy(key: string): boolean {
    return this.live.has(key) || (this.options.isLive?.(key) ?? false);
  }

  private accepted(id: number, streamId: string, remoteAddress: string): void {
    const request = parseStreamId(streamId);
    if (!request.ok || this.closed) {
      this.drop(id);
      return;
    }
    const publish = new SrtPublish(request.key, remoteAddress, () => this.consumerClosed(id), this.logger);
    const connection: Connection = { key: request.key, publish, started: false, ended: false };
    this.connections.set(id, connection);
    this.authorize(id, connection, request.secret, remoteAddress).catch((error: unknown) => this.refuse(id, connection, `internal error: ${errorMessage(error)}`));
  }

  private async authorize(id: number, connection: Connection, secret: string | undefined, remoteAddress: string): Promise<void> {
    let verdict: true | string = true;
    if (this.options.authorize) {
      try {
        verdict = await this.options.authorize(connection.key, secret, remoteAddress);
      } catch (error) {
        this.logger.warn(`authorize() failed: ${errorMessage(error)}`);
        verdict = 'stream key check failed';
      }
    }
    // The caller may have hung up while it waited.
    if (connection.ended) return;
    if (verdict !== true) return this.refuse(id, connection, verdict);
    if (this.busy(connection.key)) return this.refuse(id, connection, 'this stream key is already live');
    this.live.add(connection.key);
    connection.started = true;
    this.logger.info(`SRT publish started on '${connection.key}' from ${remoteAddress}`);
    let listening = 0;
    for (const listener of this.rawListeners('publish') as ((publish: SrtPublish) => unknown)[]) {
      try {
        listener.call(this, connection.publish);
        listening++;
      } catch (error) {
        this.logger.warn(`'publish' listener failed: ${errorMessage(error)}`);
      }
    }
    // A publisher nobody reads would only fill memory.
    if (listening === 0) this.end(id, connection, 'publish listener failed');
  }

  private received(id: number, payload: Buffer): void {
    const connection = this.connections.get(id);
    if (!connection || connection.ended) return;
    const { publish } = connection;
    publish.bytesReceived += payload.length;
    if (publish.ts.destroyed) return;
    if (publish.ts.readableLength >= this.maxBufferedBytes) {
      if (publish.bytesDropped === 0) this.logger.warn(`'${connection.key}': the consumer fell ${this.maxBufferedBytes} bytes behind; dropping what comes until it catches up`);
      publish.bytesDropped += payload.length;
      return;
    }
    publish.ts.push(payload);
  }

  private refuse(id: number, connection: Connection, reason: string): void {
    this.logger.info(`refused SRT publish on '${connection.key}' from ${connection.publish.remoteAddress}: ${reason}`);
    this.end(id, connection, reason);
  }

  /** Ends the publish (if still on) with `reason` and closes the connection. */
  private end(id: number, connection: Connection, reason: string): void {
    if (connection.ended) return;
    connection.ended = true;
    this.connections.delete(id);
    this.drop(id);
    const { publish } = connection;
    if (!connection.started) {
      publish.ts.destroy();
      return;
    }
    this.live.delete(connection.key);
    this.logger.info(`SRT publish on '${connection.key}' from ${publish.remoteAddress} ended: ${reason}`);
    if (!publish.ts.destroyed) publish.ts.push(null);
    for (const listener of publish.rawListeners('end') as ((why: string) => unknown)[]) {
      try {
        listener.call(publish, reason);
      } catch (error) {
        this.logger.warn(`'end' listener failed: ${errorMessage(error)}`);
      }
    }
  }

  private consumerClosed(id: number): void {
    const connection = this.connections.get(id);
    if (connection?.started) this.end(id, connection, 'consumer closed');
  }

  /** Asks the native side to close `id`; nothing once the listener is stopped (its handle is gone). */
  private drop(id: number): void {
    if (this.handle) this.addon?.close(this.handle, id);
  }
}
