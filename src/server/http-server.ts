import { errorMessage } from '../base/errors.js';
import { repoPath } from '../base/paths.js';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { route } from './routes.js';
import { StatsFeed, type StatsFeedOptions } from './stats-feed.js';
import { listen } from '../base/listen.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { clientAddress, proxySet } from './client-address.js';
import { hlsToken, readHlsFile } from './hls-files.js';
import { bearerToken, sameSecret } from './secrets.js';
import { CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE } from '../metrics/prometheus.js';
import type { Readiness } from './readiness.js';

/** What the HTTP side needs to know about the streams. */
export interface StreamCatalog {
  /** The directory holding `key`'s HLS files, or undefined for an unknown key. */
  hlsDir(key: string): string | undefined;
  /** Whether `token` (the view token a request for HLS carries, if any) may watch `key`; all may when absent. */
  mayWatch?(key: string, token: string | undefined): boolean;
  /** JSON-ready stats of every stream. */
  streams(): unknown[];
  /** `key`'s last output frames, badged, for the page's frame inspector; undefined for an unknown key. */
  frames?(key: string): unknown;
  /** The Prometheus text for `/metrics`. */
  metrics?(): string;
  /** Whether a new stream would be accepted now (`/readyz`); ready when absent. */
  readiness?(): Readiness;
  /** A WHIP publish or WHEP play offer; the answer is `201` with the SDP and the session's path, or an error. */
  offer?(request: OfferRequest): Promise<SignalResult>;
  /** Ends a WHIP or WHEP session (`DELETE` on its resource). */
  endSession?(request: SessionRequest): SignalResult;
}

export interface OfferRequest {
  protocol: 'whip' | 'whep';
  key: string;
  /** WHEP only: `original` watches the publisher's video as it came instead of the upconverted stream. */
  variant?: 'original';
  sdp: string;
  /** The `Authorization` header, if any. */
  authorization?: string;
  /** The client's address (for the auth hook). */
  remoteAddress?: string;
}

export interface SessionRequest {
  protocol: 'whip' | 'whep';
  key: string;
  id: string;
  authorization?: string;
}

export type SignalResult =
  | { status: 201; sdp: string; location: string }
  | { status: 200 }
  | { status: 400 | 401 | 403 | 404 | 406 | 409 | 500 | 503; error: string };

/**
 * Which routes a listener serves: `all` (one port for everything), `public`
 * (the page, WHIP/WHEP, HLS, health checks) or `admin` (`/api/…`,
 * `/metrics`, health checks), for an admin surface on its own port.
 */
export type Surface = 'all' | 'public' | 'admin';

export interface HttpServerOptions {
  surface?: Surface;
  /** Bearer token `/api/…` and `/metrics` require (unset: open). */
  adminToken?: string;
  /** Largest WHIP/WHEP body (default 64 KiB). */
  maxBodyBytes?: number;
  /** Requests per client IP; beyond it 429 with Retry-After (health checks are exempt). */
  rateLimit?: RateLimit;
  /** Proxies whose `X-Forwarded-For` names the client (see `clientAddress`). */
  trustedProxies?: readonly string[];
}

const ADMIN_ROUTES = new Set(['streams', 'frames', 'metrics', 'ws']);
const HEALTH_ROUTES = new Set(['healthz', 'readyz']);

const WEB_DIR = repoPath('web') + '/';
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** What browsers need to POST offers with a bearer token and read the session's Location. */
const CORS_SIGNAL_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
  'Access-Control-Expose-Headers': 'Location, ETag, Accept-Post, Link',
  'Access-Control-Max-Age': '600',
};

export interface HttpLogger {
  warn(message: string): void;
}

/**
 * The server's HTTP face: HLS playlists and segments at
 * `/hls/<key>/<file>`, stream stats at `/api/streams` (and as Prometheus
 * text at `/metrics`), and the same stats
 * pushed every second over a WebSocket at `/api/ws` (see `StatsFeed`; any
 * other upgrade gets a 404 and is hung up). No framework, no
 * static-file middleware: `route()` admits only the exact file names the HLS
 * muxer writes, and files are read from the stream's own directory.
 * Everything is `Access-Control-Allow-Origin: *`, so a player on any page can
 * fetch it.
 *
 * WebRTC signalling (RFC 9725 WHIP, and WHEP on the same model): `POST
 * /whip/<key>` or `/whep/<key>` with an `application/sdp` offer, answered
 * `201 Created` with the SDP answer and a `Location` naming the session;
 * `DELETE` on that ends it; `OPTIONS` answers CORS preflights. The SDP
 * itself is the catalog's business (`offer`), this only checks the envelope.
 * `/` and `/app.js` are the web page.
 */
export class HttpServer implements AsyncDisposable {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly feed: StatsFeed;
  private readonly limiter?: RateLimiter;
  private readonly trustedProxies: ReadonlySet<string>;

  constructor(
    private readonly catalog: StreamCatalog,
    private readonly logger: HttpLogger = { warn: (message) => process.stderr.write(`frc http: ${message}\n`) },
    feedOptions: StatsFeedOptions = {},
    private readonly options: HttpServerOptions = {},
  ) {
    this.limiter = options.rateLimit ? new RateLimiter(options.rateLimit) : undefined;
    this.trustedProxies = proxySet(options.trustedProxies);
    this.feed = new StatsFeed(() => catalog.streams(), logger, feedOptions);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.logger.warn(`${req.method} ${req.url}: ${errorMessage(error)}`);
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

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Upgrades to `/api/ws` become stats clients; anything else is answered 404 and hung up. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // A peer resetting mid-handshake is routine; 'close' follows.
    const found = route(req.method, req.url);
    const refusal = this.refusal(req, found.kind);
    if (refusal) {
      rawRefusal(socket, refusal.status, refusal.error, refusal.headers);
      return;
    }
    if (found.kind === 'ws') {
      this.feed.upgrade(req, socket, head);
      return;
    }
    rawRefusal(socket, 404, 'no such WebSocket endpoint; try /api/ws');
  }

  /** The request's client address: the socket's peer, or the client a trusted proxy names. */
  private client(req: IncomingMessage): string {
    return clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.trustedProxies);
  }

  /**
   * What every request passes before it is routed: the per-IP rate limit,
   * whether this listener serves the route at all, and the admin token. The
   * token is compared in constant time and never logged.
   */
  private refusal(req: IncomingMessage, kind: string): { status: number; error: string; headers?: Record<string, string> } | undefined {
    const surface = this.options.surface ?? 'all';
    const admin = ADMIN_ROUTES.has(kind);
    if (this.limiter && !HEALTH_ROUTES.has(kind)) {
      const verdict = this.limiter.take(this.client(req), performance.now());
      if (!verdict.ok) return { status: 429, error: 'too many requests from this address', headers: { 'Retry-After': String(verdict.retryAfterSeconds) } };
    }
    if ((surface === 'public' && admin) || (surface === 'admin' && !admin && !HEALTH_ROUTES.has(kind))) {
      return { status: 404, error: surface === 'public' ? 'the admin API is served on its own port' : 'this is the admin port: /api/streams, /api/streams/<key>/frames, /api/ws, /metrics, /healthz, /readyz' };
    }
    if (admin && this.options.adminToken !== undefined && !sameSecret(bearerToken(req.headers.authorization), this.options.adminToken)) {
      return { status: 401, error: 'the admin API needs Authorization: Bearer <admin token>', headers: { 'WWW-Authenticate': 'Bearer' } };
    }
    return undefined;
  }

  private async signal(req: IncomingMessage, res: ServerResponse, protocol: 'whip' | 'whep', key: string, method: 'POST' | 'OPTIONS', variant?: 'original'): Promise<void> {
    for (const [name, value] of Object.entries(CORS_SIGNAL_HEADERS)) res.setHeader(name, value);
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Accept-Post', 'application/sdp');
    if (method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/sdp') {
      req.resume();
      send(res, 415, 'application/json', JSON.stringify({ error: `expected Content-Type: application/sdp, got ${type || 'none'}` }));
      return;
    }
    const limit = this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const declared = Number(req.headers['content-length']);
    const sdp = declared > limit ? undefined : await readBody(req, limit);
    if (sdp === undefined) {
      res.setHeader('Connection', 'close');
      send(res, 413, 'application/json', JSON.stringify({ error: `SDP offer larger than ${limit} bytes` }));
      // Whatever else the client sends is not read: the connection goes once the answer is out.
      res.on('finish', () => req.destroy());
      return;
    }
    const result = (await this.catalog.offer?.({ protocol, key, sdp, authorization: req.headers.authorization, remoteAddress: this.client(req), ...(variant ? { variant } : {}) })) ?? { status: 404, error: 'WebRTC is not available on this server' };
    sendSignalResult(res, result);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const found = route(req.method, req.url);
    const head = req.method === 'HEAD';
    const refusal = this.refusal(req, found.kind);
    if (refusal) {
      req.resume();
      for (const [name, value] of Object.entries(refusal.headers ?? {})) res.setHeader(name, value);
      send(res, refusal.status, 'application/json', JSON.stringify({ error: refusal.error }), head);
      return;
    }
    switch (found.kind) {
      case 'error':
        if (found.allow) res.setHeader('Allow', found.allow);
        send(res, found.status, 'application/json', JSON.stringify({ error: found.reason }), head);
        return;
      case 'streams':
        send(res, 200, 'application/json', JSON.stringify({ streams: this.catalog.streams() }), head);
        return;
      case 'frames': {
        const frames = this.catalog.frames?.(found.key);
        res.setHeader('Cache-Control', 'no-store');
        if (frames === undefined) send(res, 404, 'application/json', JSON.stringify({ error: 'no such stream' }), head);
        else send(res, 200, 'application/json', JSON.stringify(frames), head);
        return;
      }
      case 'metrics': {
        const text = this.catalog.metrics?.();
        if (text === undefined) send(res, 404, 'application/json', JSON.stringify({ error: 'no metrics on this server' }), head);
        else send(res, 200, PROMETHEUS_CONTENT_TYPE, text, head);
        return;
      }
      case 'healthz':
        // Liveness: answering at all is the proof; nothing here may block or fail.
        res.setHeader('Cache-Control', 'no-store');
        send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }), head);
        return;
      case 'readyz': {
        const readiness = this.catalog.readiness?.() ?? { ready: true };
        res.setHeader('Cache-Control', 'no-store');
        if (readiness.ready) send(res, 200, 'application/json', JSON.stringify({ status: 'ready' }), head);
        else send(res, 503, 'application/json', JSON.stringify({ status: 'not ready', reason: readiness.reason }), head);
        return;
      }
      case 'ws':
        res.setHeader('Upgrade', 'websocket');
        res.setHeader('Connection', 'Upgrade');
        send(res, 426, 'application/json', JSON.stringify({ error: 'this is a WebSocket endpoint; connect with Upgrade: websocket' }), head);
        return;
      case 'page': {
        const body = await readFile(join(WEB_DIR, found.file));
        res.setHeader('Cache-Control', 'no-cache');
        send(res, 200, found.contentType, body, head);
        return;
      }
      case 'signal':
        await this.signal(req, res, found.protocol, found.key, found.method, found.variant);
        return;
      case 'session': {
        for (const [name, value] of Object.entries(CORS_SIGNAL_HEADERS)) res.setHeader(name, value);
        res.setHeader('Access-Control-Allow-Methods', 'DELETE, OPTIONS');
        if (found.method === 'OPTIONS') {
          res.statusCode = 204;
          res.end();
          return;
        }
        if (found.method === 'PATCH') {
          // RFC 9725 §4.3.1: a server without trickle ICE answers PATCH with 405.
          res.setHeader('Allow', 'DELETE, OPTIONS');
          send(res, 405, 'application/json', JSON.stringify({ error: 'trickle ICE is not supported: the answer already holds every candidate' }));
          return;
        }
        const result = this.catalog.endSession?.({ protocol: found.protocol, key: found.key, id: found.id, authorization: req.headers.authorization }) ?? { status: 404, error: 'no such session' };
        sendSignalResult(res, result);
        return;
      }
      case 'hls': {
        const dir = this.catalog.hlsDir(found.key);
        if (dir === undefined) {
          send(res, 404, 'application/json', JSON.stringify({ error: 'no such stream' }), head);
          return;
        }
        const { token, inQuery } = hlsToken(req.url, req.headers.authorization);
        if (this.catalog.mayWatch && !this.catalog.mayWatch(found.key, token)) {
          res.setHeader('WWW-Authenticate', 'Bearer');
          send(res, 401, 'application/json', JSON.stringify({ error: "this stream's HLS needs its view token: Authorization: Bearer <token>, or ?token=<token> on the playlist URL" }), head);
          return;
        }
        const body = await readHlsFile(dir, found.file, inQuery ? token : undefined);
        if (body === undefined) {
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

/** Reads a request body up to `limit` bytes; undefined when it is longer. */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An HTTP answer written straight to an upgrade's socket, which is then hung up. */
function rawRefusal(socket: Duplex, status: number, error: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error });
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const text = { 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests' }[status] ?? 'Error';
  const response = `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
  // Destroyed once the answer is out, whatever the peer does next.
  socket.end(response, () => socket.destroy());
}

function sendSignalResult(res: ServerResponse, result: SignalResult): void {
  if (result.status === 201) {
    res.setHeader('Location', result.location);
    send(res, 201, 'application/sdp', result.sdp);
  } else if (result.status === 200) {
    send(res, 200, 'application/json', JSON.stringify({ ok: true }));
  } else {
    if (result.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    send(res, result.status, 'application/json', JSON.stringify({ error: result.error }));
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, head = false): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.end(head ? undefined : body);
}
