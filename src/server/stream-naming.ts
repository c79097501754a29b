/** Names the server gives a stream's outputs. */

/** A recording's file name: the key, the publish's UTC start and its id (`cam-20261121T104500-1a2b3c4d.ts`), so names never collide and sort by time. */
export function recordingName(key: string, id: string, at = new Date()): string {
  return `${key}-${at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${id}.ts`;
}

/** The push URL for one stream: every `{key}` in the template becomes its key (which `STREAM_KEY` keeps URL-safe). */
export function pushUrl(template: string, key: string): string {
  return template.replaceAll('{key}', key);
}
