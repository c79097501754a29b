import { createRequire } from 'node:module';
import { repoPath } from '../../base/paths.js';

/** What `srt-listener.c` reports to its listener's callback (see there). */
export type SrtEvent = 'ask' | 'accept' | 'data' | 'end';

/** `srt-listener.c`: an SRT listener on libsrt, on threads of its own. */
export interface SrtAddon {
  /**
   * Binds and listens; `onEvent` hears of each handshake (`ask`: it returns
   * 0 to accept or an SRT rejection code), connection (`accept`), message
   * (`data`) and end (`end`). Throws with `code` EADDRINUSE and the like.
   */
  listen(
    host: string,
    port: number,
    latencyMs: number,
    onEvent: (event: SrtEvent, id: number, text: string | Buffer | undefined, address: string | undefined) => number | void,
  ): { handle: object; port: number };
  /** Asks connection `id`'s thread to close it; its `end` follows. */
  close(handle: object, id: number): void;
  /** Stops listening and ends every connection; `handle` must not be used after. */
  stop(handle: object): void;
}

const require = createRequire(import.meta.url);

/**
 * The SRT listener, built by `node-gyp` beside the engine's kernels
 * (`binding.gyp`), or undefined where it was not (libsrt's headers were
 * missing then): loaded on first use, so that a server without `srtPort`
 * never needs it.
 */
export function srtAddon(): SrtAddon | undefined {
  try {
    return require(repoPath('build', 'Release', 'frc_srt.node')) as SrtAddon;
  } catch {
    return undefined;
  }
}
