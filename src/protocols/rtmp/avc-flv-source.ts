import type { Readable } from 'node:stream';
import { Decoder } from 'node-av/api';
import { avChannelLayoutDefault, CodecParameters, FormatContext, type Packet, Rational, type Stream } from 'node-av/lib';
import { AV_CODEC_ID_AAC, AV_CODEC_ID_H264, AV_SAMPLE_FMT_FLTP, AVMEDIA_TYPE_AUDIO, AVMEDIA_TYPE_VIDEO, FF_THREAD_SLICE } from 'node-av/constants';
import { type Rational as Rate } from '../../base/rational.js';
import { parameterSets } from '../../base/h264.js';
import { describeFfmpegError } from '../../base/ffmpeg-log.js';
import { annexBFromAvcc } from '../../base/avcc.js';
import { InputError } from '../../base/errors.js';
import type { LiveItem, LiveSource } from '../../ingest/live-source.js';
import { mediaPacket } from '../../ingest/packet.js';
import { decodePacket } from '../../ingest/read-demuxed.js';
import { FLV_AAC, FLV_AVC, type FlvTag, type FlvTagReader, metadataOf, parseAudioSpecificConfig, parseAudioTag, parseVideoTag } from './flv-tags.js';

const MS = { num: 1, den: 1000 };

/** What the first tags of a publish say: read it ourselves (H.264, AAC or no audio), or hand it to FFmpeg. */
export type FlvVerdict = { path: 'own'; avcC: Buffer; asc?: Buffer; frameRate?: Rate } | { path: 'ffmpeg'; reason: string };

// How long (in the stream's own milliseconds) to wait past the video's header for an announced audio header,
// and for a video header at all.
const AUDIO_WAIT_MS = 300;
const VIDEO_WAIT_MS = 5000;

/**
 * Decides from a publish's first tags which reader it needs. Pure: tags in,
 * a verdict out once there is one. Publishers (FFmpeg, OBS) send
 * `onMetaData`, then both codec headers, before any media, so the verdict
 * normally comes with the first few hundred bytes.
 */
export class FlvCodecProbe {
  private announcedAudio: boolean | undefined;
  private frameRate?: Rate;
  private avcC?: Buffer;
  private asc?: Buffer;
  private firstTimestamp?: number;
  private videoSince?: number;

  add(tag: FlvTag): FlvVerdict | undefined {
    this.firstTimestamp ??= tag.timestamp;
    if (tag.kind === 'data') {
      const meta = metadataOf(tag.body);
      if (meta) {
        this.announcedAudio = 'audiocodecid' in meta;
        this.frameRate = rateOf(meta.framerate);
      }
    } else if (tag.kind === 'video') {
      const video = parseVideoTag(tag.body);
      if (video.codecId !== FLV_AVC) return { path: 'ffmpeg', reason: `its video is not H.264 (FLV codec ${video.codecId ?? 'in an Enhanced RTMP header'})` };
      if (video.avcPacketType === 0) {
        if (!(video.data.length >= 7 && video.data[0] === 1)) return { path: 'ffmpeg', reason: 'its H.264 header is not an avcC record' };
        this.avcC = Buffer.from(video.data);
      } else if (video.avcPacketType === 1 && !this.avcC) {
        return { path: 'ffmpeg', reason: 'its H.264 came before its header' };
      }
      if (this.avcC) this.videoSince ??= tag.timestamp;
    } else {
      const audio = parseAudioTag(tag.body);
      if (audio.soundFormat !== FLV_AAC) return { path: 'ffmpeg', reason: `its audio is not AAC (FLV sound format ${audio.soundFormat})` };
      if (audio.aacPacketType === 0) {
        try {
          parseAudioSpecificConfig(audio.data);
        } catch (error) {
          return { path: 'ffmpeg', reason: (error as Error).message };
        }
        this.asc = Buffer.from(audio.data);
      }
    }
    if (this.avcC) {
      // Without metadata, audio may still be coming: wait for it just as briefly.
      const audioPending = this.asc === undefined && this.announcedAudio !== false;
      if (!audioPending || tag.timestamp - this.videoSince! >= AUDIO_WAIT_MS) return this.own();
    } else if (tag.timestamp - this.firstTimestamp >= VIDEO_WAIT_MS) {
      throw new InputError(`carries no usable video: no video header in its first ${VIDEO_WAIT_MS / 1000} s`);
    }
    return undefined;
  }

  private own(): FlvVerdict {
    return { path: 'own', avcC: this.avcC!, ...(this.asc ? { asc: this.asc } : {}), ...(this.frameRate ? { frameRate: this.frameRate } : {}) };
  }
}

/** `onMetaData`'s `framerate` as a rate (29.97 as 30000/1001), if plausible. */
function rateOf(value: unknown): Rate | undefined {
  if (typeof value !== 'number' || !(value >= 1 && value <= 240)) return undefined;
  for (const den of [1, 1001, 1000]) {
    const num = Math.round(value * den);
    if (Math.abs(num / den - value) < 1e-3 && (den !== 1001 || num % 1000 === 0)) return { num, den };
  }
  return { num: Math.round(value * 1000), den: 1000 };
}

/**
 * An RTMP publish in H.264 (and AAC, or no audio) read without FFmpeg's
 * demuxer: the FLV tags are parsed here and their payloads go straight to the
 * decoder as packets, as a WHIP stream's do.
 *
 * Why: FFmpeg's FLV demuxer reads a live stream through custom I/O, and its
 * blocked read holds a thread of libuv's pool for the stream's whole life
 * (see ingest/ffmpeg-readers.ts), so the pool bounded how many RTMP streams one
 * server could take. Here reading costs nothing while the publisher is
 * silent, and there is no probing delay at the start. Other codecs still go
 * to FFmpeg (`FlvSource`).
 *
 * Timestamps are FLV's milliseconds (pts = dts + composition time), as
 * FFmpeg's demuxer gives them.
 */
export class AvcFlvSource implements LiveSource {
  readonly videoCodec = 'h264';
  readonly video = { timeBase: MS };
  readonly audio: Stream | undefined;
  decodeErrors = 0;
  private packetBytes = 0;
  private closed = false;
  private disposed = false;
  /** A new avcC record mid-stream: its SPS and PPS go in band ahead of the next picture. */
  private inBand?: Buffer;
  private readonly audioHolder: FormatContext | undefined;

  private constructor(
    readonly name: string,
    private readonly flv: Readable,
    private readonly chunks: AsyncIterator<Buffer>,
    private readonly reader: FlvTagReader,
    private pending: FlvTag[],
    private readonly decoder: Decoder,
    private avcC: Buffer,
    readonly frameRate: Rate | undefined,
    aac: { holder: FormatContext; stream: Stream } | undefined,
    private readonly receivedBytes: (() => number) | undefined,
  ) {
    this.audio = aac?.stream;
    this.audioHolder = aac?.holder;
  }

  /**
   * `chunks` iterates `flv`; `reader` has parsed what was read so far, and
   * `pending` are the tags it returned that the probe already saw.
   */
  static async open(
    name: string,
    flv: Readable,
    chunks: AsyncIterator<Buffer>,
    reader: FlvTagReader,
    pending: FlvTag[],
    verdict: FlvVerdict & { path: 'own' },
    receivedBytes?: () => number,
  ): Promise<AvcFlvSource> {
    const codecpar = new CodecParameters();
    codecpar.alloc();
    codecpar.codecType = AVMEDIA_TYPE_VIDEO;
    codecpar.codecId = AV_CODEC_ID_H264;
    codecpar.extradata = verdict.avcC;
    // What Decoder reads of a stream: its parameters, index and time base.
    const stream = { index: 0, codecpar, timeBase: new Rational(1, 1000), avgFrameRate: new Rational(0, 1), rFrameRate: new Rational(0, 1) } as unknown as Stream;
    let decoder: Decoder;
    try {
      // Slice threads only, as for FFmpeg's FLV path: frame threads hold frames back.
      decoder = await Decoder.create(stream, { threadCount: 0, threadType: FF_THREAD_SLICE });
    } catch (err) {
      throw new InputError(`${name}: cannot decode its H.264: ${await describeFfmpegError(err)}`);
    }
    return new AvcFlvSource(name, flv, chunks, reader, pending, decoder, verdict.avcC, verdict.frameRate, verdict.asc ? aacHolder(verdict.asc) : undefined, receivedBytes);
  }

  /** What the publisher has sent so far, for its bitrate limit: every byte when `receivedBytes` is given, else the media payloads. */
  get mediaBytes(): number {
    return this.receivedBytes?.() ?? this.packetBytes;
  }

  async *read(): AsyncGenerator<LiveItem> {
    for (;;) {
      for (const tag of this.pending) {
        if (this.closed) return;
        yield* this.handle(tag);
      }
      let next: IteratorResult<Buffer>;
      try {
        next = await this.chunks.next();
      } catch {
        break; // the stream was destroyed: the publisher is gone
      }
      if (next.done || this.closed) break;
      try {
        this.pending = this.reader.processInput(next.value);
      } catch (error) {
        throw new InputError(`${this.name}: ${(error as Error).message}`);
      }
    }
    if (!this.closed) yield* this.decode(null);
  }

  /** RTMP's H.264 keeps its SPS and PPS in the stream header (avcC), not in the keyframes. */
  parameterSets(): Buffer[] {
    return parameterSets(this.avcC);
  }

  /** Stops reading: the FLV stream is destroyed, which drops the publisher. */
  close(): void {
    this.closed = true;
    this.flv.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.close();
    this.decoder.close();
    this.audioHolder?.freeContext();
  }

  private async *handle(tag: FlvTag): AsyncGenerator<LiveItem> {
    if (tag.kind === 'audio' && this.audio) {
      const audio = parseAudioTag(tag.body);
      if (audio.soundFormat !== FLV_AAC || audio.aacPacketType !== 1 || audio.data.length === 0) return;
      this.packetBytes += audio.data.length;
      yield { kind: 'audio', packet: mediaPacket(audio.data, { pts: BigInt(tag.timestamp), streamIndex: this.audio.index, timeBase: 1000, key: true }) };
      return;
    }
    if (tag.kind !== 'video') return;
    let video;
    try {
      video = parseVideoTag(tag.body);
    } catch {
      this.decodeErrors++;
      return;
    }
    if (video.codecId !== FLV_AVC) return;
    if (video.avcPacketType === 0) {
      if (!video.data.equals(this.avcC) && video.data.length >= 7) {
        this.avcC = Buffer.from(video.data);
        this.inBand = inBandParameterSets(this.avcC);
      }
      return;
    }
    if (video.avcPacketType !== 1 || video.data.length === 0) return;
    this.packetBytes += video.data.length;
    const lengthSize = (this.avcC[4]! & 0x03) + 1;
    const dts = BigInt(tag.timestamp);
    const pts = dts + BigInt(video.compositionTime);
    // The picture as received, for viewers of the original: Annex-B on RTP's 90 kHz clock.
    yield { kind: 'encoded', codec: 'H264', data: annexBFromAvcc(video.data, lengthSize), keyframe: video.keyframe, timestamp: Number((pts * 90n) & 0xffffffffn) };
    const data = this.inBand ? Buffer.concat([this.inBand, video.data]) : video.data;
    this.inBand = undefined;
    yield* this.decode(mediaPacket(data, { pts, dts, streamIndex: 0, timeBase: 1000, key: video.keyframe }));
  }

  /** A damaged picture costs its frames, not the stream. `null` flushes. */
  private async *decode(packet: Packet | null): AsyncGenerator<LiveItem> {
    try {
      yield* decodePacket(this.decoder, packet, () => this.decodeErrors++);
    } finally {
      packet?.free();
    }
  }
}

/**
 * The AAC stream as a real FFmpeg stream (in a format context of its own, to
 * hold it): outputs copy it into FLV and MPEG-TS and transcode it to Opus,
 * and both read everything a demuxed stream has.
 */
function aacHolder(asc: Buffer): { holder: FormatContext; stream: Stream } {
  const { sampleRate, channels } = parseAudioSpecificConfig(asc);
  const holder = new FormatContext();
  holder.allocContext();
  const stream = holder.newStream(null);
  const par = stream.codecpar;
  par.codecType = AVMEDIA_TYPE_AUDIO;
  par.codecId = AV_CODEC_ID_AAC;
  par.format = AV_SAMPLE_FMT_FLTP;
  par.sampleRate = sampleRate;
  par.channelLayout = avChannelLayoutDefault(channels);
  par.frameSize = 1024;
  par.extradata = asc;
  stream.timeBase = new Rational(1, 1000);
  return { holder, stream };
}

/** An avcC record's SPS and PPS as length-prefixed NAL units, to go in band before a picture. */
function inBandParameterSets(avcC: Buffer): Buffer {
  const lengthSize = (avcC[4]! & 0x03) + 1;
  return Buffer.concat(
    parameterSets(avcC).flatMap((nal) => {
      const length = Buffer.alloc(lengthSize);
      length.writeUIntBE(nal.length, 0, lengthSize);
      return [length, nal];
    }),
  );
}
