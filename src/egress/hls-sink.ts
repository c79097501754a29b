import { join } from 'node:path';
import { Encoder, Muxer } from 'node-av/api';
import { avGetCodecName, type Packet, type Stream } from 'node-av/lib';
import { describeFfmpegError } from '../ffmpeg-log.js';
import { OutputError } from './file-sink.js';

export interface HlsSinkOptions {
  /** The stream's own directory; the playlist and its segments are written there. */
  dir: string;
  /** The (shared) H.264 encoder whose packets this sink muxes; it must not have produced a packet yet. */
  video: Encoder;
  /**
   * The input's audio stream, copied into the segments when MPEG-TS takes its
   * codec (AAC, MP3; else left out), or an audio encoder whose packets
   * `writeAudio` gets (WebRTC's Opus transcoded to AAC).
   */
  audio?: Stream | Encoder;
  /** Target segment length in seconds (default 1); the encoder's keyframe interval should match. */
  segmentSeconds?: number;
  /** Segments listed in the rolling playlist; older ones are deleted (default 6). */
  playlistSize?: number;
}

export const HLS_PLAYLIST = 'index.m3u8';

/** Audio codecs MPEG-TS segments carry as they are. */
const TS_AUDIO = new Set(['aac', 'mp3', 'mp2', 'ac3', 'eac3']);

/**
 * Muxes already-encoded live video, with the input's audio copied, into a
 * rolling HLS playlist of MPEG-TS segments. The encoding itself is
 * `LiveEgress`'s, so the same packets can also go elsewhere (an RTMP push).
 *
 * The playlist keeps the last few segments and FFmpeg deletes the rest, so
 * disk use stays bounded however long the stream runs. `close()` writes the
 * trailer, which ends the playlist with `#EXT-X-ENDLIST`.
 */
export class HlsSink implements AsyncDisposable {
  readonly audioMode: 'copy' | 'encode' | 'none';
  private closed = false;

  private constructor(
    private readonly muxer: Muxer,
    private readonly videoIndex: number,
    private readonly audioIndex: number,
    encoded: boolean,
  ) {
    this.audioMode = audioIndex < 0 ? 'none' : encoded ? 'encode' : 'copy';
  }

  static async open(options: HlsSinkOptions): Promise<HlsSink> {
    let muxer: Muxer;
    try {
      muxer = await Muxer.open(join(options.dir, HLS_PLAYLIST), {
        format: 'hls',
        // node-av's interleaving queue (for copied streams) lost the first GOP of the
        // encoded video when copied audio arrived before it, as it does live. Packets
        // come in near arrival order anyway; the HLS muxer interleaves what it gets.
        useSyncQueue: false,
        options: {
          hls_time: options.segmentSeconds ?? 1,
          hls_list_size: options.playlistSize ?? 6,
          // temp_file: a segment appears under its name only once complete, so HTTP never serves half of one.
          hls_flags: 'delete_segments+independent_segments+temp_file',
          hls_segment_filename: join(options.dir, 'seg%05d.ts'),
        },
      });
    } catch (err) {
      throw new OutputError(`cannot write HLS into ${options.dir}: ${await describeFfmpegError(err)}`);
    }
    const videoIndex = muxer.addStream(options.video);
    let audioIndex = -1;
    const { audio } = options;
    if (audio instanceof Encoder) audioIndex = muxer.addStream(audio);
    else if (audio && TS_AUDIO.has(avGetCodecName(audio.codecpar.codecId) ?? '')) audioIndex = muxer.addStream(audio);
    return new HlsSink(muxer, videoIndex, audioIndex, audio instanceof Encoder);
  }

  /** Muxes one encoded video packet; the packet stays the caller's. */
  async writeVideo(packet: Packet): Promise<void> {
    await this.muxer.writePacket(packet, this.videoIndex);
  }

  /** Muxes one audio packet (copied or encoded); the packet stays the caller's. */
  async writeAudio(packet: Packet): Promise<void> {
    if (this.audioIndex >= 0) await this.muxer.writePacket(packet, this.audioIndex);
  }

  /** Writes the trailer (`#EXT-X-ENDLIST`); flush the encoder into `writeVideo` first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.muxer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
