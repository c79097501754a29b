import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bearerToken } from './secrets.js';

/**
 * HLS files as the server hands them out. A key with a view token keeps
 * its HLS to those who have it too (WHEP's rule): a player sends it as
 * `Authorization: Bearer <token>` (hls.js `xhrSetup`, ffplay `-headers`) or
 * as `?token=<token>` on the playlist URL (any player). In the second case
 * the playlist's segment URLs carry it on, since a player fetches segments
 * relative to the playlist and would drop the query.
 */

/** The view token a request for an HLS file carries, and whether it came in the query (see `readHlsFile`). */
export function hlsToken(url: string | undefined, authorization: string | undefined): { token?: string; inQuery: boolean } {
  const query = new URLSearchParams((url ?? '').split('?')[1] ?? '').get('token');
  if (query !== null) return { token: query, inQuery: true };
  const bearer = bearerToken(authorization);
  return bearer !== undefined ? { token: bearer, inQuery: false } : { inQuery: false };
}

/** `file` of `dir`, undefined when it is not there (not written yet, or rotated out); a playlist's segment URLs carry `queryToken`. */
export async function readHlsFile(dir: string, file: string, queryToken?: string): Promise<Buffer | undefined> {
  let body: Buffer;
  try {
    body = await readFile(join(dir, file));
  } catch {
    return undefined;
  }
  if (queryToken === undefined || !file.endsWith('.m3u8')) return body;
  return Buffer.from(withSegmentToken(body.toString('utf8'), queryToken));
}

/** The playlist with `?token=` on each segment URL (its lines that are not tags). */
export function withSegmentToken(playlist: string, token: string): string {
  const query = `?token=${encodeURIComponent(token)}`;
  return playlist.replace(/^(?!#)(\S+)$/gm, `$1${query}`);
}
