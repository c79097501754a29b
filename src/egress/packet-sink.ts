import { Encoder, Muxer } from 'node-av/api';
import { avGetCodecName, type Packet, type Stream } from 'node-av/lib';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import { OutputError } from '../base/errors.js';
import { SerialWrites } from './serial-writes.js';
import { closeMuxer } from './close-muxer.js';

export interface PacketSinkOptions {
  /** Where FFmpeg writes (a file, or the HLS playlist) and in which format (`hls`, `mpegts`). */
  target: string;
  format: string;
  /** The format's own options (FFmpeg's `-hls_time` and the like). */
  options?: Record<string, string | number>;
  /** What the output is called in errors ("HLS into <dir>", "the recording <file>"). */
  what: string;
  /** The (shared) H.264 encoder whose packets this sink muxes; it must not have produced a packet yet. */
  video: Encoder;
  /**
   * The input's audio stream, copied when MPEG-TS takes its codec (AAC, MP3;
   * else left out), or an audio encoder whose packets `writeAudio` gets
   * (WebRTC's Opus transcoded to AAC).
   */
  audio?: Stream | Encoder;
}

/** Audio codecs MPEG-TS (HLS segments, recordings) carries as they are. */
const TS_AUDIO = new Set(['aac', 'mp3', 'mp2', 'ac3', 'eac3']);

/**
 * Muxes already-encoded live video, with the input's audio, into one
 * FFmpeg output. The encoding is `LiveEgress`'s, so the same packets go to
 * every output (HLS, a recording, an RTMP push) and are encoded once.
 * `close()` writes the trailer.
 */
export class PacketSink implements AsyncDisposable {
  readonly audioMode: 'copy' | 'encode' | 'none';
  private closed = false;
  private readonly writes = new SerialWrites();

  private constructor(
    private readonly muxer: Muxer,
    private readonly videoIndex: number,
    private readonly audioIndex: number,
    encoded: boolean,
  ) {
    this.audioMode = audioIndex < 0 ? 'none' : encoded ? 'encode' : 'copy';
  }

  static async open(options: PacketSinkOptions): Promise<PacketSink> {
    let muxer: Muxer;
    try {
      muxer = await Muxer.open(options.target, {
        format: options.format,
        // node-av's interleaving queue (for copied streams) lost the first GOP of the
        // encoded video when copied audio arrived before it, as it does live. Packets
        // come in near arrival order anyway; the muxer interleaves what it gets.
        useSyncQueue: false,
        // Nor its background write worker: see SerialWrites.
        useAsyncWrite: false,
        ...(options.options ? { options: options.options } : {}),
      });
    } catch (err) {
      throw new OutputError(`cannot write ${options.what}: ${await describeFfmpegError(err)}`);
    }
    const videoIndex = muxer.addStream(options.video);
    let audioIndex = -1;
    const { audio } = options;
    if (audio instanceof Encoder) audioIndex = muxer.addStream(audio);
    else if (audio && TS_AUDIO.has(avGetCodecName(audio.codecpar.codecId) ?? '')) audioIndex = muxer.addStream(audio);
    return new PacketSink(muxer, videoIndex, audioIndex, audio instanceof Encoder);
  }

  /** Muxes one encoded video packet; the packet stays the caller's. */
  writeVideo(packet: Packet): Promise<void> {
    return this.writes.write(packet, (own) => this.muxer.writePacket(own, this.videoIndex));
  }

  /** Muxes one audio packet (copied or encoded); the packet stays the caller's. */
  async writeAudio(packet: Packet): Promise<void> {
    if (this.audioIndex >= 0) await this.writes.write(packet, (own) => this.muxer.writePacket(own, this.audioIndex));
  }

  /** Writes the trailer; flush the encoder into `writeVideo` first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.writes.drained();
    } finally {
      await closeMuxer(this.muxer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
