/**
 * What an HTTP request asks for, decided from its method and raw path alone
 * (pure, so every odd path can be tested without a socket).
 *
 * Paths are matched segment by segment on the raw, still percent-encoded
 * request target, against strict patterns: a stream key of letters, digits,
 * `_` and `-`, and file names FFmpeg's HLS muxer writes. Nothing is decoded,
 * so `..`, `%2e%2e`, `%2f` and friends can never name a file: they simply do
 * not match and get a 404.
 */
export type Route =
  | { kind: 'streams' }
  /** One stream's last output frames, badged (original, model, still, blend, dup) with their RTP timestamps: the page's frame inspector. */
  | { kind: 'frames'; key: string }
  /** Prometheus text: every stream's figures and the process's. */
  | { kind: 'metrics' }
  /** Liveness: the process answers. */
  | { kind: 'healthz' }
  /** Readiness: the engine is loaded and a new stream would be accepted. */
  | { kind: 'readyz' }
  /** The WebSocket stats feed; only an HTTP upgrade can use it. */
  | { kind: 'ws' }
  | { kind: 'hls'; key: string; file: string; contentType: string }
  /** The web page and its scripts. */
  | { kind: 'page'; file: string; contentType: string }
  /** WHIP (publish) or WHEP (play) on a stream: POST an offer, or OPTIONS. `/whep/<key>/original` plays the original. */
  | { kind: 'signal'; protocol: 'whip' | 'whep'; key: string; method: 'POST' | 'OPTIONS'; variant?: 'original' }
  /** One WHIP or WHEP session's resource: DELETE ends it; OPTIONS; PATCH (trickle ICE) is not supported. */
  | { kind: 'session'; protocol: 'whip' | 'whep'; key: string; id: string; method: 'DELETE' | 'OPTIONS' | 'PATCH' }
  | { kind: 'error'; status: 404 | 405; reason: string; allow?: string };

/** Stream keys that can be published and served. */
export const STREAM_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const HLS_FILE = /^(index\.m3u8|seg\d{1,9}\.(ts|m4s))$/;
/** Session ids are the UUIDs the server made. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const PAGES: Record<string, { file: string; contentType: string }> = {
  '': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  'charts.js': { file: 'charts.js', contentType: 'text/javascript; charset=utf-8' },
  'inspector.js': { file: 'inspector.js', contentType: 'text/javascript; charset=utf-8' },
  'motion.js': { file: 'motion.js', contentType: 'text/javascript; charset=utf-8' },
};

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  m4s: 'video/iso.segment',
};

export function route(method: string | undefined, target: string | undefined): Route {
  // Only origin-form targets ("/path?query"); the query is ignored.
  const path = (target ?? '').split('?', 1)[0]!;
  if (!path.startsWith('/')) return notFound('no such resource');
  const parts = path.split('/').slice(1);
  let found: Route;
  if ((parts[0] === 'whip' || parts[0] === 'whep') && (parts.length === 2 || parts.length === 3)) {
    return signalRoute(method, parts[0], parts[1]!, parts[2]);
  }
  if (parts.length === 1 && PAGES[parts[0]!]) {
    found = { kind: 'page', ...PAGES[parts[0]!]! };
  } else if (parts.length === 1 && parts[0] === 'metrics') {
    found = { kind: 'metrics' };
  } else if (parts.length === 1 && (parts[0] === 'healthz' || parts[0] === 'readyz')) {
    found = { kind: parts[0] };
  } else if (parts.length === 2 && parts[0] === 'api' && parts[1] === 'streams') {
    found = { kind: 'streams' };
  } else if (parts.length === 4 && parts[0] === 'api' && parts[1] === 'streams' && parts[3] === 'frames') {
    if (!STREAM_KEY.test(parts[2]!)) return notFound('no such stream');
    found = { kind: 'frames', key: parts[2]! };
  } else if (parts.length === 2 && parts[0] === 'api' && parts[1] === 'ws') {
    found = { kind: 'ws' };
  } else if (parts.length === 3 && parts[0] === 'hls') {
    const [, key, file] = parts as [string, string, string];
    if (!STREAM_KEY.test(key)) return notFound('no such stream');
    if (!HLS_FILE.test(file)) return notFound('no such file');
    found = { kind: 'hls', key, file, contentType: CONTENT_TYPES[file.slice(file.lastIndexOf('.') + 1)]! };
  } else {
    return notFound('no such resource; try /, /api/streams, /api/streams/<key>/frames, /api/ws, /metrics, /healthz, /readyz, /whip/<key>, /whep/<key> or /hls/<key>/index.m3u8');
  }
  if (method !== 'GET' && method !== 'HEAD') return { kind: 'error', status: 405, reason: `${method} is not allowed here`, allow: 'GET, HEAD' };
  return found;
}

function signalRoute(method: string | undefined, protocol: 'whip' | 'whep', key: string, id: string | undefined): Route {
  if (!STREAM_KEY.test(key)) return notFound('no such stream: keys are letters, digits, _ and -');
  if (protocol === 'whep' && id === 'original') {
    if (method === 'POST' || method === 'OPTIONS') return { kind: 'signal', protocol, key, method, variant: 'original' };
    return { kind: 'error', status: 405, reason: `${method} is not allowed here; POST an SDP offer`, allow: 'POST, OPTIONS' };
  }
  if (id === undefined) {
    if (method === 'POST' || method === 'OPTIONS') return { kind: 'signal', protocol, key, method };
    return { kind: 'error', status: 405, reason: `${method} is not allowed here; POST an SDP offer`, allow: 'POST, OPTIONS' };
  }
  if (!SESSION_ID.test(id)) return notFound('no such session');
  if (method === 'DELETE' || method === 'OPTIONS' || method === 'PATCH') return { kind: 'session', protocol, key, id, method };
  return { kind: 'error', status: 405, reason: `${method} is not allowed here; DELETE ends the session`, allow: 'DELETE, OPTIONS' };
}

function notFound(reason: string): Route {
  return { kind: 'error', status: 404, reason };
}
