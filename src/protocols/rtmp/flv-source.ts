import { Readable } from 'node:stream';
import type { Packet } from 'node-av/lib';
import { encodedH264, openDemuxedStream } from '../../ingest/demuxed-stream.js';
import { DemuxedSource, type DemuxedSourceHooks } from '../../ingest/demuxed-source.js';
import { InputError } from '../../base/errors.js';
import type { EncodedItem, LiveInput, LiveItem, LiveSource } from '../../ingest/live-source.js';
import { AvcFlvSource, FlvCodecProbe, type FlvVerdict } from './avc-flv-source.js';
import { type FlvTag, FlvTagReader } from './flv-tags.js';
import type { FfmpegReaders } from '../../ingest/ffmpeg-readers.js';

export interface FlvSourceOptions extends DemuxedSourceHooks {
  /** What the source is called in error messages (e.g. `rtmp live/<key>`). */
  name?: string;
  /**
   * How long FFmpeg may read the live stream to learn its codecs before the
   * first frame comes out, in seconds (default 0.2). FLV publishers send their
   * codec headers first, so this rarely matters; it bounds the start-up
   * delay when one does not.
   */
  probeSeconds?: number;
}

/**
 * A live FLV byte stream (what `RtmpServer` hands over per publish) opened for
 * upconversion: video decoded to frames, the first audio stream passed on as
 * packets, in arrival order — the same items `FileSource` yields.
 *
 * node-av reads the Readable through custom I/O: its read callback returns a
 * promise that waits until the stream has bytes ("no data yet" is simply a
 * pending read), and `null` once the stream has ended or been destroyed, which
 * FFmpeg sees as end of file. So a publisher that leaves, or `close()`,
 * ends `read()` normally after the decoder is flushed.
 */
export class FlvSource extends DemuxedSource {
  /** Resolves once FFmpeg has seen the stream's codec headers (the first second or so of a publish). */
  static async open(flv: Readable, options: FlvSourceOptions = {}): Promise<FlvSource> {
    const name = options.name ?? 'live stream';
    const stream = await openDemuxedStream(flv, 'flv', 'FLV', name, options.probeSeconds ?? 0.2);
    return new FlvSource(name, flv, stream, options);
  }

  /**
   * Frames carry the demuxer's timestamps (`pts` in the video stream's time
   * base, milliseconds for FLV). H.264 packets also come out as they are
   * (Annex-B, 90 kHz timestamps), for viewers of the original. RTMP's H.264
   * keeps its SPS and PPS in the stream header (avcC), not in the keyframes:
   * `parameterSets()`.
   */
  async *read(): AsyncGenerator<LiveItem> {
    const h264 = this.videoCodec === 'h264';
    const { timeBase } = this.video;
    yield* this.demuxed((packet: Packet): EncodedItem | undefined => (h264 && packet.data ? encodedH264(packet as Packet & { data: Buffer }, timeBase) : undefined));
  }
}

export interface FlvInputOptions extends FlvSourceOptions {
  /** Pool threads for FFmpeg's FLV reader, which only codecs other than H.264 and AAC need (see ingest/ffmpeg-readers.ts). */
  ffmpegReaders?: FfmpegReaders;
}

/**
 * A publisher's FLV bytes as a live stream's input: H.264 with AAC (or no
 * audio) is read by `AvcFlvSource`, anything else by FFmpeg (`FlvSource`),
 * decided from the first tags.
 */
export function flvInput(flv: Readable, options: FlvInputOptions = {}): LiveInput {
  return {
    protocol: 'rtmp',
    open: () =>
      openFlv(flv, options).catch((error: unknown) => {
        flv.destroy();
        throw error;
      }),
    abort: () => flv.destroy(),
  };
}

async function openFlv(flv: Readable, options: FlvInputOptions): Promise<LiveSource> {
  const name = options.name ?? 'live stream';
  const chunks = flv[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const reader = new FlvTagReader();
  const probe = new FlvCodecProbe();
  const seen: Buffer[] = [];
  const tags: FlvTag[] = [];
  let verdict: FlvVerdict | undefined;
  while (!verdict) {
    const next = await chunks.next().catch(() => ({ done: true as const, value: undefined }));
    if (next.done) throw new InputError(`${name} carries no usable video: it ended before any video header`);
    seen.push(next.value);
    try {
      for (const tag of reader.processInput(next.value)) {
        tags.push(tag);
        verdict ??= probe.add(tag);
      }
    } catch (error) {
      throw new InputError(`${name}: ${(error as Error).message}`);
    }
  }
  if (verdict.path === 'own') return AvcFlvSource.open(name, flv, chunks, reader, tags, verdict, options.receivedBytes);
  const refusal = options.ffmpegReaders?.acquire();
  if (refusal !== undefined) throw new InputError(`${name}: ${verdict.reason}, so FFmpeg must read it, and ${refusal}`);
  try {
    return await FlvSource.open(replay(seen, chunks, flv), { ...options, onDisposed: () => options.ffmpegReaders?.release() });
  } catch (error) {
    options.ffmpegReaders?.release();
    throw error;
  }
}

/** The bytes the probe read, then the rest of `flv`; closing it drops the publisher, as closing `flv` does. */
function replay(seen: Buffer[], chunks: AsyncIterator<Buffer>, flv: Readable): Readable {
  const out = Readable.from(
    (async function* () {
      yield* seen;
      for (;;) {
        const next = await chunks.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done) return;
        yield next.value;
      }
    })(),
    { objectMode: false },
  );
  out.on('close', () => flv.destroy());
  return out;
}
