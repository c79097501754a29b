import type { Readable } from 'node:stream';
import type { Packet } from 'node-av/lib';
import { InputError } from '../../base/errors.js';
import { DecodeHealth } from '../../ingest/decode-health.js';
import type { EncodedItem, LiveInput, LiveItem } from '../../ingest/live-source.js';
import { type DemuxedStream, encodedH264, openDemuxedStream } from '../../ingest/demuxed-stream.js';
import { DemuxedSource, type DemuxedSourceHooks } from '../../ingest/demuxed-source.js';
import type { FfmpegReaders } from '../../ingest/ffmpeg-readers.js';

export interface MpegTsSourceOptions extends DemuxedSourceHooks {
  /** What the source is called in error messages (e.g. `stream 'cam'`). */
  name?: string;
  /** How long FFmpeg may read to learn the codecs, in seconds (default 1: MPEG-TS repeats its tables and SPS only at keyframes). */
  probeSeconds?: number;
  /** A publisher still connected whose video stops (garbage the demuxer keeps searching, video gone) is dropped after this long, ms (default 5000). */
  stallMs?: number;
}

const DEFAULT_STALL_MS = 5000;
const NO_PTS = -0x8000000000000000n;

/**
 * A live MPEG-TS byte stream (what `SrtServer` hands over per publish)
 * opened for upconversion: the same items `FlvSource` yields, read by
 * FFmpeg's MPEG-TS demuxer through node-av's custom I/O (a read waits for
 * the stream's next bytes; its end is the end of file).
 *
 * SRT has no protocol of its own to break, so bad bytes are noticed by what
 * they do to the video: none for `stallMs`, or packets that stopped
 * decoding (`DecodeHealth`), end the stream with the reason; the publisher
 * is dropped.
 */
export class MpegTsSource extends DemuxedSource {
  private stalled?: string;

  private constructor(
    name: string,
    private readonly ts: Readable,
    stream: DemuxedStream,
    private readonly options: MpegTsSourceOptions,
  ) {
    super(name, ts, stream, options);
  }

  /** Resolves once FFmpeg has seen the stream's tables and codec headers (the first keyframe). */
  static async open(ts: Readable, options: MpegTsSourceOptions = {}): Promise<MpegTsSource> {
    const name = options.name ?? 'live stream';
    const stream = await openDemuxedStream(ts, 'mpegts', 'MPEG-TS', name, options.probeSeconds ?? 1);
    return new MpegTsSource(name, ts, stream, options);
  }

  /** Frames carry MPEG-TS's 90 kHz timestamps; H.264 packets also come out as they are, for viewers of the original. */
  async *read(): AsyncGenerator<LiveItem> {
    const h264 = this.videoCodec === 'h264';
    const { timeBase } = this.video;
    const stallMs = this.options.stallMs ?? DEFAULT_STALL_MS;
    const decoding = new DecodeHealth();
    let lastVideoAt = performance.now();
    const watchdog = setInterval(() => {
      if (this.stalled !== undefined || this.closed) return;
      const now = performance.now();
      this.stalled = now - lastVideoAt >= stallMs ? `no video for ${stallMs / 1000} s` : decoding.check(now, stallMs);
      // Ends the read in progress: the demuxer sees the end of its input.
      if (this.stalled !== undefined) this.ts.destroy();
    }, 500);
    watchdog.unref();
    const tap = (packet: Packet): EncodedItem | undefined => {
      lastVideoAt = performance.now();
      decoding.packet();
      if (!h264 || !packet.data || packet.pts === NO_PTS) return undefined;
      return { ...encodedH264(packet as Packet & { data: Buffer }, timeBase), pts: packet.pts };
    };
    try {
      for await (const item of this.demuxed(tap)) {
        if (item.kind === 'video') decoding.frame();
        yield item;
      }
    } catch (error) {
      if (this.stalled === undefined) throw error;
    } finally {
      clearInterval(watchdog);
    }
    if (this.stalled !== undefined) throw new InputError(`${this.name}: ${this.stalled}: dropped`);
  }
}

export interface MpegTsInputOptions extends MpegTsSourceOptions {
  /** Pool threads for FFmpeg's reader: each live MPEG-TS stream holds one (see ingest/ffmpeg-readers.ts). */
  ffmpegReaders?: FfmpegReaders;
}

/** A publisher's MPEG-TS bytes as a live stream's input. */
export function mpegtsInput(ts: Readable, options: MpegTsInputOptions = {}): LiveInput {
  return {
    protocol: 'srt',
    open: async () => {
      const name = options.name ?? 'live stream';
      const refusal = options.ffmpegReaders?.acquire();
      if (refusal !== undefined) {
        ts.destroy();
        throw new InputError(`${name}: FFmpeg must read MPEG-TS, and ${refusal}`);
      }
      try {
        return await MpegTsSource.open(ts, { ...options, onDisposed: () => options.ffmpegReaders?.release() });
      } catch (error) {
        options.ffmpegReaders?.release();
        ts.destroy();
        throw error;
      }
    },
    abort: () => ts.destroy(),
  };
}
