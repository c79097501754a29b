import { join } from 'node:path';
import { Encoder, Muxer } from 'node-av/api';
import { avGetCodecName, type Frame, type Packet, type Stream } from 'node-av/lib';
import { FF_ENCODER_LIBX264 } from 'node-av/constants';
import { describeFfmpegError } from '../ffmpeg-log.js';
import { OutputError } from './file-sink.js';

export interface HlsSinkOptions {
  /** The stream's own directory; the playlist and its segments are written there. */
  dir: string;
  /** Output frames per second, for the keyframe interval (one keyframe a second). */
  fps: number;
  /** The input's audio stream: copied into the segments when MPEG-TS takes its codec (AAC, MP3), else left out. */
  audio?: Stream;
  /** Target segment length in seconds (default 1). */
  segmentSeconds?: number;
  /** Segments listed in the rolling playlist; older ones are deleted (default 6). */
  playlistSize?: number;
}

export const HLS_PLAYLIST = 'index.m3u8';

/** Audio codecs MPEG-TS segments carry as they are. */
const TS_AUDIO = new Set(['aac', 'mp3', 'mp2', 'ac3', 'eac3']);

/**
 * Encodes the upconverted video for live playback and muxes it, with the
 * input's audio copied, into a rolling HLS playlist of MPEG-TS segments.
 *
 * Live settings: x264 `zerolatency` (no B-frames, no lookahead, so a frame
 * leaves the encoder as soon as it goes in) and a keyframe every second of
 * output, so each ~1 s segment starts with one and a player can join at any
 * segment. The playlist keeps the last few segments and FFmpeg deletes the
 * rest, so disk use stays bounded however long the stream runs. `close()`
 * writes the trailer, which ends the playlist with `#EXT-X-ENDLIST`.
 */
export class HlsSink implements AsyncDisposable {
  readonly audioMode: 'copy' | 'none';
  private closed = false;

  private constructor(
    private readonly muxer: Muxer,
    private readonly encoder: Encoder,
    private readonly videoIndex: number,
    private readonly audioIndex: number,
  ) {
    this.audioMode = audioIndex < 0 ? 'none' : 'copy';
  }

  static async open(options: HlsSinkOptions): Promise<HlsSink> {
    const segmentSeconds = options.segmentSeconds ?? 1;
    let muxer: Muxer;
    try {
      muxer = await Muxer.open(join(options.dir, HLS_PLAYLIST), {
        format: 'hls',
        // node-av's interleaving queue (for copied streams) lost the first GOP of the
        // encoded video when copied audio arrived before it, as it does live. Packets
        // come in near arrival order anyway; the HLS muxer interleaves what it gets.
        useSyncQueue: false,
        options: {
          hls_time: segmentSeconds,
          hls_list_size: options.playlistSize ?? 6,
          // temp_file: a segment appears under its name only once complete, so HTTP never serves half of one.
          hls_flags: 'delete_segments+independent_segments+temp_file',
          hls_segment_filename: join(options.dir, 'seg%05d.ts'),
        },
      });
    } catch (err) {
      throw new OutputError(`cannot write HLS into ${options.dir}: ${await describeFfmpegError(err)}`);
    }
    let encoder: Encoder;
    try {
      encoder = await Encoder.create(FF_ENCODER_LIBX264, {
        gopSize: Math.max(1, Math.round(options.fps * segmentSeconds)),
        maxBFrames: 0,
        options: { preset: 'veryfast', tune: 'zerolatency', crf: 23 },
      });
    } catch (err) {
      await muxer.close().catch(() => {});
      throw new OutputError(`cannot start the H.264 encoder: ${await describeFfmpegError(err)}`);
    }
    const videoIndex = muxer.addStream(encoder);
    let audioIndex = -1;
    if (options.audio && TS_AUDIO.has(avGetCodecName(options.audio.codecpar.codecId) ?? '')) {
      audioIndex = muxer.addStream(options.audio);
    }
    return new HlsSink(muxer, encoder, videoIndex, audioIndex);
  }

  /** Encodes one output frame; the frame stays the caller's. */
  async writeVideo(frame: Frame): Promise<void> {
    for (const packet of await this.encoder.encodeAll(frame)) {
      await this.muxer.writePacket(packet, this.videoIndex);
      packet.free();
    }
  }

  /** Copies one audio packet; the packet stays the caller's. */
  async writeAudio(packet: Packet): Promise<void> {
    if (this.audioIndex >= 0) await this.muxer.writePacket(packet, this.audioIndex);
  }

  /** Flushes the encoder and writes the trailer (`#EXT-X-ENDLIST`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const packet of await this.encoder.encodeAll(null)) await this.muxer.writePacket(packet, this.videoIndex);
    } finally {
      await this.muxer.close();
      this.encoder.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
