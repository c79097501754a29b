import { withoutPassword } from '../base/url-text.js';
import { isUrl } from './file-source.js';

/** What `--pull <key>=<url>` names. */
export interface PullTarget {
  /** What FFmpeg opens. */
  url: string;
  /** The URL as logs and stats show it: without its password. */
  name: string;
  /** A local file: played in real time, as the ffmpeg CLI's `-re` does. */
  file: boolean;
  /** Start the file over at its end (`<path>?loop`). */
  loop: boolean;
  /** The URL's scheme (`rtsp`, `srt`, `udp`, `http`, …), or `file`: the stream's `protocol` in stats. */
  protocol: string;
}

const LOOP_SUFFIX = '?loop';

/**
 * A pull's URL as given: anything FFmpeg opens. A local path (or `file:`
 * URL) is a file, played in real time; `?loop` at its end plays it forever.
 * On a network URL a query string is the server's, never taken as `loop`.
 */
export function pullTarget(text: string): PullTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  const file = !isUrl(text) || scheme === 'file';
  if (!file) return { url: text, name: withoutPassword(text), file, loop: false, protocol: scheme! };
  const loop = text.endsWith(LOOP_SUFFIX);
  const url = loop ? text.slice(0, -LOOP_SUFFIX.length) : text;
  return { url, name: url, file, loop, protocol: 'file' };
}
