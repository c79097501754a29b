import type { Logger } from '../../base/logger.js';
import { EventEmitter } from 'node:events';
import { type Server, type Socket, createServer } from 'node:net';
import { Readable } from 'node:stream';
import { ConnectionCap, admit } from './connection-cap.js';
import { FlvMuxer } from './flv.js';
import { type MediaKind, type RtmpOutput, RtmpSession } from './session.js';
import { listen } from '../../base/listen.js';
import { errorMessage } from '../../base/errors.js';

/**
 * An RTMP ingest server for OBS-style publishers: `rtmp://host:1935/live/<key>`.
 * Each accepted publish becomes an `RtmpPublish` whose `flv` stream carries
 * what the publisher sends, as FLV, for FFmpeg to demux. The protocol lives
 * in `RtmpSession`; this file only wires sockets, timers and policy to it.
 *
 * Policies:
 * - At most `maxConnectionsPerIp` connections per address; one beyond is
 *   closed at once, before its handshake (see `ConnectionCap`).
 * - Only the `live` application is served; other apps, empty keys, keys
 *   `authorize` refuses, and a key that is already live are refused with
 *   `NetStream.Publish.BadName`, then the connection is ended. The stream
 *   already live on a key is never disturbed by a newcomer.
 * - A connection that sends nothing for `idleTimeoutMs` is dropped, and so is
 *   one that breaks the protocol; neither affects other connections.
 * - Slow consumer: each publish buffers at most about `maxBufferedBytes` of
 *   FLV (plus one socket read). Past that the server stops reading the
 *   socket, so TCP pushes back on the publisher, which then waits (FFmpeg) or
 *   drops frames by its own policy (OBS). Nothing is dropped here, memory
 *   stays bounded, and the idle timer is off while we are the ones not
 *   reading. Consumers that must stay live should read promptly and drop
 *   downstream (see `RingBuffer`'s `'drop-oldest'`).
 * - A consumer that destroys `flv` (e.g. breaks out of `for await`) drops
 *   the publisher's connection.
 * - A publish is refused when nobody listens for `'publish'`: its bytes would
 *   have nowhere to go.
 * - Exceptions thrown by listeners (sync or async) and by `authorize` are
 *   logged and contained; other listeners still run and the server keeps
 *   serving. When every `'publish'` listener throws, that publisher is
 *   dropped (nobody would read it); `authorize` throwing refuses the key.
 */

export interface RtmpServerOptions {
  /**
   * Decides whether a stream key may publish: true, false, or the reason it
   * may not; every key may when absent. `secret` is the `key` (or `token`)
   * query parameter of the publish name (`cam?key=s3cret`, what OBS users
   * put in the "Stream Key" field); the name's part before `?` is the key.
   * It may answer later (an external auth hook): the connection is not read
   * meanwhile, and media sent behind the publish command waits for the answer.
   */
  authorize?: (key: string, secret: string | undefined, remoteAddress: string) => boolean | string | Promise<boolean | string>;
  /** Keys being published by other means (WHIP): refused like a key already live here. */
  isLive?: (key: string) => boolean;
  /** A connection silent this long is dropped (default 10 s). */
  idleTimeoutMs?: number;
  /**
   * A connection that has not had a publish accepted this long after it
   * connected is dropped (default 10 s): the idle timer alone let a client
   * trickling a byte a second hold its connection for good.
   */
  handshakeTimeoutMs?: number;
  /** Open connections per remote address; one beyond is closed at once, before its handshake (default 16). */
  maxConnectionsPerIp?: number;
  /** FLV bytes buffered per publish before the socket is paused (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Largest RTMP message or chunk a peer may announce (default: the protocol's 16 MiB). */
  maxMessageSize?: number;
  /** Where connection problems and listener exceptions go (default: warnings to stderr). */
  logger?: Logger;
}

export interface RtmpServerEvents {
  publish: [publish: RtmpPublish];
}

export interface RtmpPublishEvents {
  /**
   * The publisher left, and why: `'unpublished'` (it said so), `'disconnected'`,
   * `'idle timeout'`, `'consumer closed'`, `'server closed'`,
   * `'protocol error: …'` or `'internal error: …'`.
   */
  end: [reason: string];
}

const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 16;
export const RTMP_APP = 'live';

const stderrLogger: Logger = {
  info: () => {},
  warn: (message) => process.stderr.write(`frc rtmp: ${message}\n`),
};

/** One live stream: who sends it, and its bytes as FLV. */
export class RtmpPublish extends EventEmitter<RtmpPublishEvents> implements AsyncDisposable {
  /** The FLV byte stream; it ends when the publisher leaves. */
  readonly flv: Readable;
  /**
   * Every byte the publisher sent since its publish was accepted, RTMP's
   * chunk headers and control, command and data messages included: what a
   * bitrate limit must count (media payloads alone let 50 Mbit/s of AMF
   * data through; issue #28).
   */
  bytesReceived = 0;

  /** @internal Created by the server on an accepted publish. */
  constructor(
    readonly app: string,
    readonly key: string,
    readonly remoteAddress: string,
    maxBufferedBytes: number,
    private readonly onRead: () => void,
    private readonly onClose: () => void,
    private readonly logger: Logger,
  ) {
    super();
    this.flv = new Readable({ highWaterMark: maxBufferedBytes, read: () => this.onRead() });
    this.flv.on('close', () => this.onClose());
    // An error on the stream is the consumer's doing; keep it from becoming an uncaught exception.
    this.flv.on('error', (error) => this.logger.warn(`FLV stream of '${this.app}' from ${this.remoteAddress}: ${error.message}`));
  }

  /** Drops the publisher's connection. */
  close(): void {
    this.flv.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

export class RtmpServer extends EventEmitter<RtmpServerEvents> implements AsyncDisposable {
  private readonly server: Server;
  private readonly connections = new Set<RtmpConnection>();
  /** Stream keys being published right now. */
  private readonly live = new Set<string>();
  private readonly logger: Logger;
  private readonly cap: ConnectionCap;

  constructor(private readonly options: RtmpServerOptions = {}) {
    super();
    this.logger = options.logger ?? stderrLogger;
    this.cap = new ConnectionCap(options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP);
    this.server = createServer((socket) => {
      if (admit(this.cap, socket, this.logger)) this.connections.add(new RtmpConnection(socket, this, options));
    });
    // After listen() succeeded the server can still fail to accept (e.g. out of file descriptors); that is not fatal.
    this.server.on('error', (error) => this.logger.warn(`server: ${error.message}`));
  }

  /** Starts accepting connections; resolves with the bound port (useful with port 0). */
  listen(port = 1935, host = '0.0.0.0'): Promise<number> {
    return listen(this.server, port, host);
  }

  /** Stops listening and drops every connection; their publishes end with `'server closed'`. */
  close(): Promise<void> {
    for (const connection of this.connections) connection.drop('server closed');
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal Why a publish must be refused, or undefined to accept it. */
  async refusal(app: string, key: string, secret: string | undefined, remoteAddress: string): Promise<string | undefined> {
    if (app !== RTMP_APP) return `unknown application '${app}', publish to rtmp://<host>/${RTMP_APP}/<key>`;
    if (key === '') return 'empty stream key';
    if (this.listenerCount('publish') === 0) return 'this server has no consumer for streams';
    if (this.options.authorize) {
      try {
        const verdict = await this.options.authorize(key, secret, remoteAddress);
        if (verdict === false) return 'stream key not authorized';
        if (typeof verdict === 'string') return verdict;
      } catch (error) {
        this.logger.warn(`authorize() failed: ${errorMessage(error)}`);
        return 'stream key check failed';
      }
    }
    // The reason goes back to the publisher, who knows the key; logs never see it.
    if (this.live.has(key) || this.options.isLive?.(key)) return 'this stream key is already live';
    return undefined;
  }

  /** @internal Announces an accepted publish; false when every listener threw, so nobody is reading it. */
  started(publish: RtmpPublish): boolean {
    this.live.add(publish.key);
    this.logger.info(`publish started on '${publish.app}' from ${publish.remoteAddress}`);
    return emitContained(this, 'publish', [publish], this.logger) > 0;
  }

  /** @internal */
  ended(publish: RtmpPublish, reason: string): void {
    this.live.delete(publish.key);
    this.logger.info(`publish on '${publish.app}' from ${publish.remoteAddress} ended: ${reason}`);
  }

  /** @internal */
  forget(connection: RtmpConnection): void {
    this.connections.delete(connection);
  }

  /** @internal */
  get log(): Logger {
    return this.logger;
  }
}

/** One socket: feeds its bytes to an `RtmpSession` and carries out what comes back. */
class RtmpConnection {
  private readonly session: RtmpSession;
  private readonly remoteAddress: string;
  private readonly idleTimeoutMs: number;
  private readonly maxBufferedBytes: number;
  private publish?: RtmpPublish;
  private muxer?: FlvMuxer;
  private paused = false;
  /** Runs until a publish is accepted (see `handshakeTimeoutMs`). */
  private handshakeTimer?: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly server: RtmpServer,
    options: RtmpServerOptions,
  ) {
    this.session = new RtmpSession({ maxMessageSize: options.maxMessageSize });
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeoutMs);
    socket.on('timeout', () => {
      this.server.log.info(`dropping ${this.remoteAddress}: silent for ${this.idleTimeoutMs} ms`);
      this.drop('idle timeout');
    });
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.handshakeTimer = setTimeout(() => {
      this.server.log.info(`dropping ${this.remoteAddress}: no publish within ${handshakeTimeoutMs} ms of connecting`);
      this.drop('handshake timeout');
    }, handshakeTimeoutMs);
    this.handshakeTimer.unref();
    socket.on('data', (data: Buffer) => {
      if (this.publish) this.publish.bytesReceived += data.length;
      this.guarded(() => this.handle(this.session.processInput(data)));
    });
    // 'close' always follows; resets by the peer are routine.
    socket.on('error', (error) => this.server.log.info(`${this.remoteAddress}: ${error.message}`));
    socket.on('close', () => {
      clearTimeout(this.handshakeTimer);
      this.endPublish('disconnected');
      this.server.forget(this);
    });
  }

  /** Ends the publish (if any) with `reason` and closes the socket at once. */
  drop(reason: string): void {
    this.endPublish(reason);
    this.socket.destroy();
  }

  private handle(outputs: RtmpOutput[]): void {
    for (const output of outputs) {
      switch (output.type) {
        case 'send':
          this.socket.write(output.data);
          break;
        case 'publish':
          this.decide(output.app, output.key).catch((error: unknown) => this.drop(`internal error: ${errorMessage(error)}`));
          break;
        case 'media':
          this.deliver(output.kind, output.timestamp, output.payload);
          break;
        case 'end':
          this.endPublish('unpublished');
          break;
        case 'error':
          this.server.log.warn(`dropping ${this.remoteAddress}: ${output.reason}`);
          this.drop(`protocol error: ${output.reason}`);
          return;
      }
    }
  }

  private async decide(app: string, name: string): Promise<void> {
    // The secret goes no further than the check: the key alone names the stream, in logs too.
    const query = name.indexOf('?');
    const key = query < 0 ? name : name.slice(0, query);
    const params = new URLSearchParams(query < 0 ? '' : name.slice(query + 1));
    // Not read while the answer is awaited: the session holds what came behind the publish command, and no more arrives.
    this.socket.pause();
    let refusal: string | undefined;
    try {
      refusal = await this.server.refusal(app, key, params.get('key') ?? params.get('token') ?? undefined, this.remoteAddress);
    } finally {
      if (!this.paused) this.socket.resume();
    }
    // The publisher may have hung up while it waited.
    if (this.socket.destroyed) return;
    this.guarded(() => this.answer(app, key, refusal));
  }

  private answer(app: string, key: string, refusal: string | undefined): void {
    if (refusal !== undefined) {
      this.server.log.info(`refused publish on '${app}' from ${this.remoteAddress}: ${refusal}`);
      this.handle(this.session.reject(refusal));
      // A graceful end lets the refusal reach the peer; the idle timer reaps a peer that never closes.
      this.socket.end();
      return;
    }
    const publish = new RtmpPublish(app, key, this.remoteAddress, this.maxBufferedBytes, () => this.resumeReading(), () => this.consumerClosed(publish), this.server.log);
    this.publish = publish;
    clearTimeout(this.handshakeTimer);
    this.muxer = new FlvMuxer();
    if (!this.server.started(publish)) {
      // A publisher nobody reads would stall forever behind a full buffer.
      this.drop('publish listener failed');
      return;
    }
    // Accepting may release media that arrived behind the publish command, so the consumer is attached first.
    this.handle(this.session.accept());
  }

  private deliver(kind: MediaKind, timestamp: number, payload: Buffer): void {
    if (!this.publish || !this.muxer || this.publish.flv.destroyed) return;
    if (!this.publish.flv.push(this.muxer.write(kind, timestamp, payload))) this.pauseReading();
  }

  private endPublish(reason: string): void {
    const publish = this.publish;
    if (!publish) return;
    this.publish = undefined;
    this.muxer = undefined;
    this.server.ended(publish, reason);
    if (!publish.flv.destroyed) publish.flv.push(null);
    emitContained(publish, 'end', [reason], this.server.log);
    // The connection may publish again; it must not stay paused for a stream that is gone.
    this.resumeReading();
  }

  private consumerClosed(publish: RtmpPublish): void {
    // Still ours and not ended: the consumer gave up on a live stream.
    if (this.publish === publish) this.drop('consumer closed');
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
    // Silence is ours now, not the publisher's.
    this.socket.setTimeout(0);
  }

  private resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.setTimeout(this.idleTimeoutMs);
    this.socket.resume();
  }

  /** Runs socket-event work so that no exception escapes into the event loop. */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.server.log.warn(`dropping ${this.remoteAddress}: ${errorMessage(error)}`);
      this.drop(`internal error: ${errorMessage(error)}`);
    }
  }
}

/**
 * `emitter.emit(event, ...args)`, except that a listener that throws or
 * rejects is logged and neither stops the listeners after it nor reaches
 * the event loop. Returns how many listeners returned without throwing.
 */
function emitContained(emitter: { rawListeners(event: string): Function[] }, event: string, args: unknown[], logger: Logger): number {
  let succeeded = 0;
  // rawListeners, so calling a once() wrapper also removes it, as emit() would.
  for (const listener of emitter.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
    try {
      const result = listener.apply(emitter, args);
      if (result instanceof Promise) result.catch((error: unknown) => logger.warn(`'${event}' listener failed: ${errorMessage(error)}`));
      succeeded++;
    } catch (error) {
      logger.warn(`'${event}' listener failed: ${errorMessage(error)}`);
    }
  }
  return succeeded;
}
