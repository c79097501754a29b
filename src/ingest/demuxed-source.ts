import type { Readable } from 'node:stream';
import type { Decoder, Demuxer } from 'node-av/api';
import type { Stream } from 'node-av/lib';
import { avGetCodecName } from 'node-av/lib';
import { parameterSets } from '../base/h264.js';
import type { Rational } from '../base/rational.js';
import { announcedFrameRate, type DemuxedStream } from './demuxed-stream.js';
import type { LiveItem, LiveSource } from './live-source.js';
import { readDemuxed, type SourceItem, type VideoTap } from './read-demuxed.js';

/** What a source read by FFmpeg's demuxer tells its owner beside the items. */
export interface DemuxedSourceHooks {
  /** Called once when the source is disposed. */
  onDisposed?: () => void;
  /** Every byte the publisher has sent, for the bitrate limit. Without it, the media packets' bytes. */
  receivedBytes?: () => number;
}

/**
 * A publisher's byte stream read by FFmpeg (`openDemuxedStream`): what the
 * FLV and MPEG-TS sources share. It owns the demuxer and the decoder; closing
 * it destroys the byte stream (which drops the publisher), so a pending read
 * sees its end. Its subclasses say how `read()` taps the video packets.
 */
export abstract class DemuxedSource implements LiveSource {
  /** Video packets the decoder rejected; a live stream keeps going past them. */
  decodeErrors = 0;
  /** The video codec's name (`h264`, …), for stats. Read at open: the stream objects die with the demuxer. */
  readonly videoCodec: string;
  /** The frame rate the publisher announced or FFmpeg measured while probing, if plausible. */
  readonly frameRate: Rational | undefined;
  readonly video: Stream;
  readonly audio: Stream | undefined;
  protected closed = false;
  private readonly demuxer: Demuxer;
  private readonly decoder: Decoder;
  private packetBytes = 0;
  private disposed = false;

  protected constructor(
    readonly name: string,
    private readonly bytes: Readable,
    stream: DemuxedStream,
    private readonly hooks: DemuxedSourceHooks,
  ) {
    ({ demuxer: this.demuxer, decoder: this.decoder, video: this.video, audio: this.audio } = stream);
    this.videoCodec = avGetCodecName(this.video.codecpar.codecId) ?? 'unknown';
    this.frameRate = announcedFrameRate(this.video);
  }

  /** What the publisher has sent so far, for its bitrate limit (see `DemuxedSourceHooks.receivedBytes`). */
  get mediaBytes(): number {
    return this.hooks.receivedBytes?.() ?? this.packetBytes;
  }

  abstract read(): AsyncGenerator<LiveItem>;

  /** The demuxer's items, with `tap`'s item for each video packet it passes on. */
  protected demuxed<T>(tap: VideoTap<T>): AsyncGenerator<SourceItem | T> {
    return readDemuxed(
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
  }

  /** H.264's SPS and PPS as the demuxer found them (FLV's header; MPEG-TS also repeats them at keyframes), for viewers of the original. */
  parameterSets(): Buffer[] {
    return parameterSets(this.video.codecpar.extradata);
  }

  /** Stops reading: the byte stream is destroyed (which drops the publisher), so a pending read sees its end. */
  close(): void {
    this.closed = true;
    this.bytes.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.close();
    this.decoder.close();
    await this.demuxer.close();
    this.hooks.onDisposed?.();
  }
}
