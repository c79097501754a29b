import { statSync } from 'node:fs';
import { Decoder, Demuxer } from 'node-av/api';
import type { Stream } from 'node-av/lib';
import { avGetCodecName, avGetMediaTypeString } from 'node-av/lib';
import { FF_THREAD_SLICE } from 'node-av/constants';
import { describeFfmpegError, takeFfmpegErrors } from '../base/ffmpeg-log.js';
import { type DemuxedInput, readDemuxed, type SourceItem, type VideoTap } from './read-demuxed.js';
import { InputError } from '../base/errors.js';

export type { SourceItem } from './read-demuxed.js';

export interface FileSourceOptions {
  /** Forces a demuxer (e.g. `lavfi` for FFmpeg's synthetic sources). */
  format?: string;
  /** FFmpeg options for the input and its protocol (e.g. `timeout`). */
  options?: Record<string, string>;
  /** What the input is called in error messages, when not its URL (one without its password). */
  name?: string;
  /** Decode with slice threads only: frame threads hold each frame back one frame per thread, latency a live source cannot afford. */
  live?: boolean;
}

/** What `read()` may be given: a look at each video packet, its pacing, and a count of every packet's bytes (see `DemuxedInput`). */
export type ReadHooks<T> = Pick<DemuxedInput, 'pace' | 'onPacket'> & { tap?: VideoTap<T> };

/**
 * A file or URL opened for upconversion: its video stream decoded to frames,
 * its first audio stream (if any) passed on as packets, in demux order.
 */
export class FileSource implements AsyncDisposable {
  /** Video packets the decoder rejected; the frames they held are missing from the output. */
  decodeErrors = 0;
  private closed = false;
  /** Settles once FFmpeg's reads have stopped (see `demuxThread`); set by the first packet read. */
  private reading?: Promise<void>;
  private firstPts?: bigint;
  private endPts?: bigint;

  private constructor(
    readonly url: string,
    private readonly demuxer: Demuxer,
    private readonly decoder: Decoder,
    readonly video: Stream,
    readonly audio: Stream | undefined,
  ) {}

  static async open(url: string, options: FileSourceOptions = {}): Promise<FileSource> {
    if (!options.format && !isUrl(url)) checkLocalFile(url);
    const name = options.name ?? url;
    takeFfmpegErrors();
    let demuxer: Demuxer;
    try {
      demuxer = await Demuxer.open(url, { ...(options.format ? { format: options.format } : {}), ...(options.options ? { options: options.options } : {}) });
    } catch (err) {
      throw new InputError(`cannot open ${name}: ${await describeFfmpegError(err)}`);
    }
    const video = demuxer.video();
    if (!video) {
      const kinds = demuxer.streams.map((s) => `${avGetMediaTypeString(s.codecpar.codecType)} (${avGetCodecName(s.codecpar.codecId)})`);
      await demuxer.close();
      throw new InputError(`${name} has no video stream${kinds.length ? ` (only ${kinds.join(', ')})` : ''}`);
    }
    if (video.codecpar.width <= 0 || video.codecpar.height <= 0) {
      await demuxer.close();
      throw new InputError(`${name}: video stream has no usable dimensions (${video.codecpar.width}x${video.codecpar.height}); the file may be truncated`);
    }
    let decoder: Decoder;
    try {
      decoder = await Decoder.create(video, options.live ? { threadCount: 0, threadType: FF_THREAD_SLICE } : undefined);
    } catch (err) {
      await demuxer.close();
      throw new InputError(`${name}: cannot decode ${avGetCodecName(video.codecpar.codecId)} video: ${await describeFfmpegError(err)}`);
    }
    return new FileSource(url, demuxer, decoder, video, demuxer.audio());
  }

  /** Frames carry the decoder's timestamps (`pts` in the video stream's time base). */
  async *read<T = never>(hooks: ReadHooks<T> = {}): AsyncGenerator<SourceItem | T> {
    const items = readDemuxed(
      {
        demuxer: this.demuxer,
        decoder: this.decoder,
        video: this.video,
        audio: this.audio,
        stopped: () => this.closed,
        onDamaged: () => this.decodeErrors++,
        ...(hooks.pace ? { pace: hooks.pace } : {}),
        onPacket: (size) => {
          this.reading ??= demuxThread(this.demuxer);
          hooks.onPacket?.(size);
        },
      },
      hooks.tap,
    );
    for await (const item of items) {
      // A tapped item (T) is never a video frame.
      const frame = (item as SourceItem).kind === 'video' ? (item as Extract<SourceItem, { kind: 'video' }>).frame : undefined;
      if (frame && frame.pts !== AV_NOPTS) {
        const { pts, duration } = frame;
        this.firstPts ??= pts;
        const end = pts + (duration > 0n ? duration : 0n);
        if (this.endPts === undefined || end > this.endPts) this.endPts = end;
      }
      yield item;
    }
  }

  /**
   * Says so when the decoded video ends well before the duration the container
   * declares: a truncated or damaged file whose output would otherwise look
   * complete. Call after reading.
   */
  truncationWarning(): string | undefined {
    const declared = this.demuxer.duration;
    if (!(declared > 0) || this.firstPts === undefined || this.endPts === undefined) return undefined;
    const tb = this.video.timeBase;
    const decoded = (Number(this.endPts - this.firstPts) * tb.num) / tb.den;
    if (decoded >= declared - Math.max(0.5, 0.1 * declared)) return undefined;
    return `${this.url}: video ends after ${decoded.toFixed(2)} s of a declared ${declared.toFixed(2)} s; the file looks truncated or damaged, the output covers only what could be read`;
  }

  /** The demuxer FFmpeg chose (`mov,mp4,m4a,3gp,3g2,mj2`, `mpegts`, `hls`, …). */
  get format(): string {
    return this.demuxer.formatName;
  }

  /** Ends a read that waits for data (a quiet network source): `read()` then finishes. */
  interrupt(): void {
    if (!this.closed) this.demuxer.interrupt();
  }

  /**
   * Closes the decoder and the demuxer, once FFmpeg's read in progress has
   * returned: node-av closes the input after waiting at most 2 s for it, and
   * a read that goes on past that (HLS waiting for its playlist to grow pays
   * no heed to `interrupt()`) then runs on freed memory and kills the process.
   * A read still going after `READ_WAIT_MS` is left to finish with its
   * demuxer unclosed: a leak, not a crash.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reading) {
      let timer: NodeJS.Timeout | undefined;
      const returned = await Promise.race([this.reading.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), READ_WAIT_MS)))]);
      clearTimeout(timer);
      if (!returned) return;
    }
    this.decoder.close();
    await this.demuxer.close();
  }

}

const AV_NOPTS = -0x8000000000000000n;

/** How long disposing waits for FFmpeg's read in progress to return (see `[Symbol.asyncDispose]`). */
const READ_WAIT_MS = 60_000;

/**
 * node-av's reading loop (a private field of its Demuxer, started with the
 * first packet and never rejecting): settled once FFmpeg's last read has
 * returned. Resolved at once where node-av has no such field.
 */
function demuxThread(demuxer: Demuxer): Promise<void> {
  const thread = (demuxer as unknown as { demuxThread?: Promise<void> | null }).demuxThread;
  return thread ? thread.catch(() => {}) : Promise.resolve();
}

export function isUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

function checkLocalFile(path: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new InputError(`input not found: ${path}`);
  }
  if (stat.isDirectory()) throw new InputError(`input is a directory, not a video file: ${path}`);
  if (stat.size === 0) throw new InputError(`input file is empty (0 bytes): ${path}`);
}
