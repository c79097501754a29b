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
  /** The WebSocket stats feed; only an HTTP upgrade can use it. */
  | { kind: 'ws' }
  | { kind: 'hls'; key: string; file: string; contentType: string }
  | { kind: 'error'; status: 404 | 405; reason: string; allow?: string };

/** Stream keys that can be published and served. */
export const STREAM_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const HLS_FILE = /^(index\.m3u8|seg\d{1,9}\.(ts|m4s))$/;

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
  if (parts.length === 2 && parts[0] === 'api' && parts[1] === 'streams') {
    found = { kind: 'streams' };
  } else if (parts.length === 2 && parts[0] === 'api' && parts[1] === 'ws') {
    found = { kind: 'ws' };
  } else if (parts.length === 3 && parts[0] === 'hls') {
    const [, key, file] = parts as [string, string, string];
    if (!STREAM_KEY.test(key)) return notFound('no such stream');
    if (!HLS_FILE.test(file)) return notFound('no such file');
    found = { kind: 'hls', key, file, contentType: CONTENT_TYPES[file.slice(file.lastIndexOf('.') + 1)]! };
  } else {
    return notFound('no such resource; try /api/streams, /api/ws or /hls/<key>/index.m3u8');
  }
  if (method !== 'GET' && method !== 'HEAD') return { kind: 'error', status: 405, reason: `${method} is not allowed here`, allow: 'GET, HEAD' };
  return found;
}

function notFound(reason: string): Route {
  return { kind: 'error', status: 404, reason };
}
