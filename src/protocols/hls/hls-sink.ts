import { join } from 'node:path';
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
 */
export function openHlsSink(options: HlsSinkOptions): Promise<PacketSink> {
  return PacketSink.open({
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
}

