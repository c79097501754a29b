/**
 * How many published streams FFmpeg's demuxers may read at once without
 * starving the server's other work: RTMP's FLV (H.264 with AAC is read
 * without it, by `AvcFlvSource`; other codecs still need it) and SRT's
 * MPEG-TS. Here in ingest, below both protocols, which share it.
 *
 * node-av reads an RTMP stream's FLV bytes through custom I/O: FFmpeg's read
 * runs on a thread of libuv's pool and waits there, blocked, until the
 * publisher's next bytes reach the JavaScript side. So every live RTMP stream
 * holds one pool thread for its whole life, and the pool also runs every
 * decode, encode, scale and warp-kernel call of every stream. With libuv's
 * default of four threads, four RTMP publishers left no thread for that work:
 * each stream's output fell from 60 to 27 fps (five publishers: 17), on an
 * otherwise idle machine; with the pool at 16, six streams ran at 60 fps
 * (bench/RESULTS.md). The test pattern's reader holds one too: FFmpeg's
 * `realtime` filter sleeps in it between frames.
 *
 * libuv sizes its pool once, from `UV_THREADPOOL_SIZE`, when the pool is first
 * used, which in an ES-module program is before any of its code runs: the
 * variable must be set where the process starts (`npm start`, the container
 * image), not from here.
 */

/** Pool threads kept free of RTMP readers for the streams' work. */
export const WORK_THREADS = 1;

/** The size of libuv's thread pool, as libuv reads it (default 4, at most 1024). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isFinite(value) && value > 0 ? Math.min(value, 1024) : 4;
}

/** RTMP streams FFmpeg may read at once with this pool. */
export function rtmpCapacity(poolSize = threadPoolSize()): number {
  return Math.max(1, poolSize - WORK_THREADS);
}

/**
 * RTMP streams FFmpeg may read at once on this server: the pool's share for
 * readers, less `pacedReaders` held by other inputs for their whole life
 * (the test pattern's `realtime` filter waits in its reader).
 */
export function ffmpegReaderCapacity(pacedReaders = 0, poolSize = threadPoolSize()): number {
  return Math.max(1, rtmpCapacity(poolSize) - pacedReaders);
}

/**
 * What an RTMP input takes a reader thread from (see `flvInput`):
 * `acquire()` returns why none is free, or undefined having taken one;
 * `release()` gives it back.
 */
export interface FfmpegReaders {
  acquire(): string | undefined;
  release(): void;
}

/** The count of RTMP streams FFmpeg reads now, each holding a pool thread, against the server's capacity. */
export class FfmpegReaderPool implements FfmpegReaders {
  private held = 0;

  constructor(readonly capacity: number) {}

  /** Readers held now. */
  get inUse(): number {
    return this.held;
  }

  acquire(): string | undefined {
    if (this.held >= this.capacity) return `all ${this.capacity} of its readers are busy (each holds a thread of libuv's pool of ${threadPoolSize()}; UV_THREADPOOL_SIZE raises it)`;
    this.held++;
    return undefined;
  }

  release(): void {
    this.held = Math.max(0, this.held - 1);
  }
}
