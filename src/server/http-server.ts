import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { route } from './routes.js';
import { StatsFeed, type StatsFeedOptions } from './stats-feed.js';
import { listen } from '../listen.js';

/** What the HTTP side needs to know about the streams. */
export interface StreamCatalog {
  /** The directory holding `key`'s HLS files, or undefined for an unknown key. */
  hlsDir(key: string): string | undefined;
  /** JSON-ready stats of every stream. */
  streams(): unknown[];
}

export interface HttpLogger {
  warn(message: string): void;
}

/**
 * The server's HTTP face: HLS playlists and segments at
 * `/hls/<key>/<file>`, stream stats at `/api/streams`, and the same stats
 * pushed every second over a WebSocket at `/api/ws` (see `StatsFeed`; any
 * other upgrade gets a 404 and is hung up). No framework, no
 * static-file middleware: `route()` admits only the exact file names the HLS
 * muxer writes, and files are read from the stream's own directory.
 * Everything is `Access-Control-Allow-Origin: *`, so a player on any page can
 * fetch it.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly feed: StatsFeed;

  constructor(
    private readonly catalog: StreamCatalog,
    private readonly logger: HttpLogger = { warn: (message) => process.stderr.write(`frc http: ${message}\n`) },
    feedOptions: StatsFeedOptions = {},
  ) {
    this.feed = new StatsFeed(() => catalog.streams(), logger, feedOptions);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.logger.warn(`${req.method} ${req.url}: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
        else res.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('error', (error) => this.logger.warn(`server: ${error.message}`));
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** WebSocket clients connected to `/api/ws`. */
  get statsClients(): number {
    return this.feed.clientCount;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(port = 8080, host = '127.0.0.1'): Promise<number> {
    return listen(this.server, port, host);
  }

  /** Stops listening and drops open connections (players keep them alive between segment fetches). */
  close(): Promise<void> {
    this.feed.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  /** Upgrades to `/api/ws` become stats clients; anything else is answered 404 and hung up. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // A peer resetting mid-handshake is routine; 'close' follows.
    if (route(req.method, req.url).kind === 'ws') {
      this.feed.upgrade(req, socket, head);
      return;
    }
    const body = JSON.stringify({ error: 'no such WebSocket endpoint; try /api/ws' });
    const response = `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    // Destroyed once the answer is out, whatever the peer does next.
    socket.end(response, () => socket.destroy());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const found = route(req.method, req.url);
    const head = req.method === 'HEAD';
    switch (found.kind) {
      case 'error':
        if (found.allow) res.setHeader('Allow', found.allow);
        send(res, found.status, 'application/json', JSON.stringify({ error: found.reason }), head);
        return;
      case 'streams':
        send(res, 200, 'application/json', JSON.stringify({ streams: this.catalog.streams() }), head);
        return;
      case 'ws':
        res.setHeader('Upgrade', 'websocket');
        res.setHeader('Connection', 'Upgrade');
        send(res, 426, 'application/json', JSON.stringify({ error: 'this is a WebSocket endpoint; connect with Upgrade: websocket' }), head);
        return;
      case 'hls': {
        const dir = this.catalog.hlsDir(found.key);
        if (dir === undefined) {
          send(res, 404, 'application/json', JSON.stringify({ error: 'no such stream' }), head);
          return;
        }
        let body: Buffer;
        try {
          body = await readFile(join(dir, found.file));
        } catch {
          // Not written yet, or a segment already rotated out of the playlist.
          send(res, 404, 'application/json', JSON.stringify({ error: 'no such file' }), head);
          return;
        }
        // The playlist changes every segment; segments never change once written.
        res.setHeader('Cache-Control', found.file.endsWith('.m3u8') ? 'no-cache' : 'max-age=60');
        send(res, 200, found.contentType, body, head);
        return;
      }
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, head = false): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.end(head ? undefined : body);
}
