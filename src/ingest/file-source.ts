import { statSync } from 'node:fs';
import { Decoder, Demuxer } from 'node-av/api';
import type { Stream } from 'node-av/lib';
import { avGetCodecName, avGetMediaTypeString } from 'node-av/lib';
import { describeFfmpegError, takeFfmpegErrors } from '../base/ffmpeg-log.js';
import { readDemuxed, type SourceItem } from './read-demuxed.js';
import { InputError } from '../base/errors.js';

export type { SourceItem } from './read-demuxed.js';

/**
 * A file or URL opened for upconversion: its video stream decoded to frames,
 * its first audio stream (if any) passed on as packets, in demux order.
 */
export class FileSource implements AsyncDisposable {
  /** Video packets the decoder rejected; the frames they held are missing from the output. */
  decodeErrors = 0;
  private closed = false;
  private firstPts?: bigint;
  private endPts?: bigint;

  private constructor(
    readonly url: string,
    private readonly demuxer: Demuxer,
    private readonly decoder: Decoder,
    readonly video: Stream,
    readonly audio: Stream | undefined,
  ) {}

  /** `format` forces a demuxer (e.g. `lavfi` for FFmpeg's synthetic sources). */
  static async open(url: string, options: { format?: string } = {}): Promise<FileSource> {
    if (!options.format && !isUrl(url)) checkLocalFile(url);
    takeFfmpegErrors();
    let demuxer: Demuxer;
    try {
      demuxer = await Demuxer.open(url, options.format ? { format: options.format } : undefined);
    } catch (err) {
      throw new InputError(`cannot open ${url}: ${await describeFfmpegError(err)}`);
    }
    const video = demuxer.video();
    if (!video) {
      const kinds = demuxer.streams.map((s) => `${avGetMediaTypeString(s.codecpar.codecType)} (${avGetCodecName(s.codecpar.codecId)})`);
      await demuxer.close();
      throw new InputError(`${url} has no video stream${kinds.length ? ` (only ${kinds.join(', ')})` : ''}`);
    }
    if (video.codecpar.width <= 0 || video.codecpar.height <= 0) {
      await demuxer.close();
      throw new InputError(`${url}: video stream has no usable dimensions (${video.codecpar.width}x${video.codecpar.height}); the file may be truncated`);
    }
    let decoder: Decoder;
    try {
      decoder = await Decoder.create(video);
    } catch (err) {
      await demuxer.close();
      throw new InputError(`${url}: cannot decode ${avGetCodecName(video.codecpar.codecId)} video: ${await describeFfmpegError(err)}`);
    }
    return new FileSource(url, demuxer, decoder, video, demuxer.audio());
  }

  /** Frames carry the decoder's timestamps (`pts` in the video stream's time base). */
  async *read(): AsyncGenerator<SourceItem> {
    const items = readDemuxed({
      demuxer: this.demuxer,
      decoder: this.decoder,
      video: this.video,
      audio: this.audio,
      stopped: () => this.closed,
      onDamaged: () => this.decodeErrors++,
    });
    for await (const item of items) {
      if (item.kind === 'video' && item.frame.pts !== AV_NOPTS) {
        const { pts, duration } = item.frame;
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

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.decoder.close();
    await this.demuxer.close();
  }

}

const AV_NOPTS = -0x8000000000000000n;

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
