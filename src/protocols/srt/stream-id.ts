/**
 * What an SRT caller's streamid asks for. Publishers say
 * `publish:<key>`, with the key's secret as RTMP takes it in the stream
 * name: `publish:<key>?key=<secret>` (or `?token=`). SRT carries no path, so
 * the streamid is the only place for both, and OBS puts it in the URL:
 * `srt://host:port?streamid=publish:<key>`.
 */
export type StreamIdRequest = { ok: true; key: string; secret: string | undefined } | { ok: false; reason: string };

export const PUBLISH_PREFIX = 'publish:';
const USAGE = `publish with streamid=${PUBLISH_PREFIX}<key>`;

export function parseStreamId(streamId: string): StreamIdRequest {
  if (!streamId.startsWith(PUBLISH_PREFIX)) return { ok: false, reason: streamId === '' ? `no streamid: ${USAGE}` : `this server takes publishers only: ${USAGE}` };
  const name = streamId.slice(PUBLISH_PREFIX.length);
  const query = name.indexOf('?');
  const key = query < 0 ? name : name.slice(0, query);
  if (key === '') return { ok: false, reason: `empty stream key: ${USAGE}` };
  const params = new URLSearchParams(query < 0 ? '' : name.slice(query + 1));
  return { ok: true, key, secret: params.get('key') ?? params.get('token') ?? undefined };
}
