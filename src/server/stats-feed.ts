import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

export interface StatsFeedOptions {
  /** How often every client gets the list (default 1 s). */
  intervalMs?: number;
  /** A client with more than this many bytes still unsent is skipped until it catches up (default 256 KiB). */
  maxBufferedBytes?: number;
}

export interface StatsFeedLogger {
  warn(message: string): void;
}

/**
 * Live stream stats over WebSocket: each client gets
 * `{"type":"streams","streams":[…]}` (the objects `GET /api/streams` lists)
 * once on connect, then every `intervalMs`.
 *
 * The feed only talks: client messages are ignored, and capped small so a
 * client cannot make the server buffer them. A client that goes away is
 * dropped; a slow one is not allowed to pile up unsent updates: while its
 * `bufferedAmount` is over `maxBufferedBytes` it misses ticks. Each update
 * replaces the last, so a skipped one loses nothing the next will not say.
 * The timer runs only while someone is connected.
 */
export class StatsFeed implements AsyncDisposable {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, clientTracking: false });
  private readonly clients = new Set<WebSocket>();
  private readonly intervalMs: number;
  private readonly maxBufferedBytes: number;
  private timer?: NodeJS.Timeout;
  /** Updates not sent to a client because it was behind. */
  skipped = 0;

  constructor(
    private readonly streams: () => unknown[],
    private readonly logger: StatsFeedLogger,
    options: StatsFeedOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Completes a WebSocket handshake on an HTTP upgrade (ws answers a bad one with 400 and hangs up). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.add(ws));
  }

  /** Says goodbye (1001, going away) to every client; the HTTP server destroys their sockets. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const ws of this.clients) ws.close(1001, 'server closing');
    this.clients.clear();
    this.wss.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private add(ws: WebSocket): void {
    this.clients.add(ws);
    ws.on('close', () => this.remove(ws));
    // A broken connection errors, then closes; nothing else to do.
    ws.on('error', (error) => this.logger.warn(`stats client: ${error.message}`));
    this.send(ws, this.message());
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
  }

  private remove(ws: WebSocket): void {
    this.clients.delete(ws);
    if (this.clients.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const message = this.message();
    for (const ws of this.clients) this.send(ws, message);
  }

  private send(ws: WebSocket, message: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.maxBufferedBytes) {
      this.skipped++;
      return;
    }
    ws.send(message);
  }

  private message(): string {
    return JSON.stringify({ type: 'streams', streams: this.streams() });
  }
}
