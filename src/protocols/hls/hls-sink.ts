import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Packet } from 'node-av/lib';
import { OutputError } from '../../base/errors.js';
import { PacketSink, type PacketSinkOptions } from '../../egress/packet-sink.js';

export interface HlsSinkOptions extends Pick<PacketSinkOptions, 'video' | 'audio'> {
  /** The stream's own directory; the playlist and its segments are written there. */
  dir: string;
  /** Target segment length in seconds (default 1); the encoder's keyframe interval should match. */
  segmentSeconds?: number;
  /** Segments listed in the rolling playlist; older ones are deleted (default 6). */
  playlistSize?: number;
}

export const HLS_PLAYLIST = 'index.m3u8';

/**
 * A rolling HLS playlist of MPEG-TS segments, with the input's audio copied
 * (or encoded, see `PacketSink`).
 *
 * The playlist keeps the last few segments and FFmpeg deletes the rest, so
 * disk use stays bounded however long the stream runs. `close()` writes the
 * trailer, which ends the playlist with `#EXT-X-ENDLIST`.
 *
 * A full disk is an error here, which ends the stream with the reason:
 * FFmpeg's HLS muxer does not report failed segment writes (it listed
 * truncated 4 KiB segments and went on; issue #28). So at each keyframe,
 * where a segment may begin, the file system must have room for another
 * segment the size of the last one.
 */
export class HlsSink implements AsyncDisposable {
  /** Bytes muxed since the last keyframe, and between the two before. */
  private segmentBytes = 0;
  private lastSegmentBytes = 0;

  private constructor(
    private readonly sink: PacketSink,
    private readonly dir: string,
  ) {}

  static async open(options: HlsSinkOptions): Promise<HlsSink> {
    const sink = await PacketSink.open({
      target: join(options.dir, HLS_PLAYLIST),
      format: 'hls',
      what: `HLS into ${options.dir}`,
      video: options.video,
      audio: options.audio,
      options: {
        hls_time: options.segmentSeconds ?? 1,
        hls_list_size: options.playlistSize ?? 6,
        // temp_file: a segment appears under its name only once complete, so HTTP never serves half of one.
        hls_flags: 'delete_segments+independent_segments+temp_file',
        hls_segment_filename: join(options.dir, 'seg%05d.ts'),
      },
    });
    return new HlsSink(sink, options.dir);
  }

  get audioMode(): PacketSink['audioMode'] {
    return this.sink.audioMode;
  }

  /** Muxes one encoded video packet (the packet stays the caller's); throws when the disk has no room for another segment. */
  async writeVideo(packet: Packet): Promise<void> {
    if (packet.isKeyframe) {
      this.lastSegmentBytes = this.segmentBytes;
      this.segmentBytes = 0;
      const free = freeBytes(this.dir);
      if (free < this.lastSegmentBytes) {
        throw new OutputError(`HLS into ${this.dir}: No space left on device (${Math.round(free / 1024)} KiB free, a segment takes about ${Math.ceil(this.lastSegmentBytes / 1024)} KiB)`);
      }
    }
    this.segmentBytes += packet.size;
    await this.sink.writeVideo(packet);
  }

  async writeAudio(packet: Packet): Promise<void> {
    this.segmentBytes += packet.size;
    await this.sink.writeAudio(packet);
  }

  /** Writes the trailer, which ends the playlist. */
  close(): Promise<void> {
    return this.sink.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** What an unprivileged writer may still use of `dir`'s file system (one statfs call, microseconds; once a segment). */
function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}
