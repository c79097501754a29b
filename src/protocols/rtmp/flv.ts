import { metadataOf } from './flv-tags.js';
import type { MediaKind } from './session.js';

/**
 * Turns RTMP media messages into an FLV byte stream. RTMP audio, video and
 * data messages are FLV tag bodies already, so this only adds the framing:
 * the file header once, then per message an 11-byte tag header and the
 * PreviousTagSize trailer. FFmpeg's `flv` demuxer reads the result.
 */
export class FlvMuxer {
  private headerWritten = false;

  /** The FLV bytes for one media message; the first call also produces the file header. */
  write(kind: MediaKind, timestamp: number, payload: Buffer): Buffer {
    const tag = flvTag(kind, timestamp, payload);
    if (this.headerWritten) return tag;
    this.headerWritten = true;
    const flags = kind === 'data' ? streamsInMetadata(payload) : { audio: true, video: true };
    return Buffer.concat([flvHeader(flags), tag]);
  }
}

const TAG_TYPE: Record<MediaKind, number> = { audio: 8, video: 9, data: 18 };
const TAG_HEADER_SIZE = 11;

/** The 9-byte file header plus PreviousTagSize0 (always 0). */
export function flvHeader(streams: { audio: boolean; video: boolean }): Buffer {
  const header = Buffer.alloc(13);
  header.write('FLV', 0, 'latin1');
  header[3] = 1; // version
  header[4] = (streams.audio ? 0x04 : 0) | (streams.video ? 0x01 : 0);
  header.writeUInt32BE(9, 5); // header size, where the body starts
  return header;
}

/** One tag: header, body, and the PreviousTagSize that lets readers walk backwards. */
export function flvTag(kind: MediaKind, timestamp: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(TAG_HEADER_SIZE);
  header[0] = TAG_TYPE[kind];
  header.writeUIntBE(payload.length, 1, 3);
  // FLV splits a 32-bit millisecond timestamp: low 24 bits, then the high 8 bits.
  header.writeUIntBE(timestamp & 0xffffff, 4, 3);
  header[7] = (timestamp >>> 24) & 0xff;
  // Bytes 8..10: stream id, always 0.
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(TAG_HEADER_SIZE + payload.length);
  return Buffer.concat([header, payload, trailer]);
}

/**
 * Which streams the header should announce. FFmpeg's demuxer waits for every
 * announced stream before it finishes probing, so claiming audio for a
 * video-only publisher would stall the start; the publisher's `onMetaData`
 * says what is coming. Without usable metadata, announce both.
 */
function streamsInMetadata(payload: Buffer): { audio: boolean; video: boolean } {
  const properties = metadataOf(payload);
  const audio = properties !== undefined && 'audiocodecid' in properties;
  const video = properties !== undefined && 'videocodecid' in properties;
  return audio || video ? { audio, video } : { audio: true, video: true };
}
