import type { Readable } from 'node:stream';
import type { Decoder, Demuxer } from 'node-av/api';
import type { Packet, Stream } from 'node-av/lib';
import { avGetCodecName } from 'node-av/lib';
import { InputError } from '../../base/errors.js';
import { parameterSets } from '../../base/h264.js';
import type { Rational } from '../../base/rational.js';
import { DecodeHealth } from '../../ingest/decode-health.js';
import type { EncodedItem, LiveInput, LiveItem, LiveSource } from '../../ingest/live-source.js';
import { announcedFrameRate, encodedH264, openDemuxedStream } from '../../ingest/demuxed-stream.js';
import { readDemuxed } from '../../ingest/read-demuxed.js';
import type { FfmpegReaders } from '../../ingest/ffmpeg-readers.js';

export interface MpegTsSourceOptions {
  /** What the source is called in error messages (e.g. `stream 'cam'`). */
  name?: string;
  /** How long FFmpeg may read to learn the codecs, in seconds (default 1: MPEG-TS repeats its tables and SPS only at keyframes). */
  probeSeconds?: number;
  /** A publisher still connected whose video stops (garbage the demuxer keeps searching, video gone) is dropped after this long, ms (default 5000). */
  stallMs?: number;
  /** Every byte the publisher has sent (`SrtPublish.bytesReceived`), for the bitrate limit. Without it, the packets' bytes. */
  receivedBytes?: () => number;
  /** Called once when the source is disposed. */
  onDisposed?: () => void;
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
export class MpegTsSource implements LiveSource {
  decodeErrors = 0;
  private packetBytes = 0;
  readonly videoCodec: string;
  readonly frameRate: Rational | undefined;
  private closed = false;
  private disposed = false;
  private stalled?: string;

  private constructor(
    readonly name: string,
    private readonly ts: Readable,
    private readonly demuxer: Demuxer,
    private readonly decoder: Decoder,
    readonly video: Stream,
    readonly audio: Stream | undefined,
    private readonly options: MpegTsSourceOptions,
  ) {
    this.videoCodec = avGetCodecName(video.codecpar.codecId) ?? 'unknown';
    this.frameRate = announcedFrameRate(video);
  }

  /** Resolves once FFmpeg has seen the stream's tables and codec headers (the first keyframe). */
  static async open(ts: Readable, options: MpegTsSourceOptions = {}): Promise<MpegTsSource> {
    const name = options.name ?? 'live stream';
    const { demuxer, decoder, video, audio } = await openDemuxedStream(ts, 'mpegts', 'MPEG-TS', name, options.probeSeconds ?? 1);
    return new MpegTsSource(name, ts, demuxer, decoder, video, audio, options);
  }

  get mediaBytes(): number {
    return this.options.receivedBytes?.() ?? this.packetBytes;
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
      const items = readDemuxed(
        {
          demuxer: this.demuxer,
          decoder: this.decoder,
          video: this.video,
          audio: this.audio,
          stopped: () => this.closed,
          onDamaged: () => this.decodeErrors++,
          onPacket: (size) => (this.packetBytes += size),
        },
        tap,
      );
      for await (const item of items) {
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

  /** H.264's SPS and PPS as the demuxer's parser found them (MPEG-TS also repeats them at keyframes), for viewers of the original. */
  parameterSets(): Buffer[] {
    return parameterSets(this.video.codecpar.extradata);
  }

  /** Stops reading: the byte stream is destroyed (which drops the publisher), so a pending read sees its end. */
  close(): void {
    this.closed = true;
    this.ts.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.close();
    this.decoder.close();
    await this.demuxer.close();
    this.options.onDisposed?.();
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
