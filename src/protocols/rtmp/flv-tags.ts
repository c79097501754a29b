import { Amf0EcmaArray, decodeAmf0 } from './amf0.js';
import type { MediaKind } from './session.js';

/**
 * FLV bytes back into tags: the inverse of `FlvMuxer`, for the live path that
 * reads H.264 and AAC itself instead of through FFmpeg's demuxer. Pure and
 * incremental: bytes go in as they arrive, whole tags come out.
 */
export interface FlvTag {
  kind: MediaKind;
  /** Milliseconds (FLV's 32-bit timestamp, extension byte included). */
  timestamp: number;
  body: Buffer;
}

const TAG_KIND: Record<number, MediaKind> = { 8: 'audio', 9: 'video', 18: 'data' };
const TAG_HEADER_SIZE = 11;

export class FlvTagReader {
  private pending: Buffer = Buffer.alloc(0);
  private headerRead = false;

  /** Whole tags in `chunk` and the bytes held from before it; throws on bytes that are not FLV. */
  processInput(chunk: Buffer): FlvTag[] {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const tags: FlvTag[] = [];
    if (!this.headerRead) {
      if (data.length < 9) return this.hold(data, tags);
      if (data.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV stream (no FLV signature)');
      const bodyStart = data.readUInt32BE(5);
      if (data.length < bodyStart + 4) return this.hold(data, tags);
      data = data.subarray(bodyStart + 4); // the header, then PreviousTagSize0
      this.headerRead = true;
    }
    let at = 0;
    while (data.length - at >= TAG_HEADER_SIZE) {
      const size = data.readUIntBE(at + 1, 3);
      const end = at + TAG_HEADER_SIZE + size + 4;
      if (data.length < end) break;
      const kind = TAG_KIND[data[at]! & 0x1f];
      // the 24 low bits, then the extension byte as the high 8
      const timestamp = (data.readUIntBE(at + 4, 3) | (data[at + 7]! << 24)) >>> 0;
      if (kind) tags.push({ kind, timestamp, body: data.subarray(at + TAG_HEADER_SIZE, at + TAG_HEADER_SIZE + size) });
      at = end;
    }
    return this.hold(data.subarray(at), tags);
  }

  private hold(rest: Buffer, tags: FlvTag[]): FlvTag[] {
    // A copy: the chunk's memory is not kept alive for a few bytes of it.
    this.pending = rest.length > 0 ? Buffer.from(rest) : Buffer.alloc(0);
    return tags;
  }
}

/** FLV's codec ids for video (`CodecID`) and audio (`SoundFormat`) that the own path reads. */
export const FLV_AVC = 7;
export const FLV_AAC = 10;

export interface VideoTag {
  /** FLV's CodecID (7: H.264); `undefined` for Enhanced RTMP's FourCC tags (HEVC, AV1, …). */
  codecId: number | undefined;
  keyframe: boolean;
  /** H.264 only: 0 the decoder configuration record, 1 NAL units, 2 end of sequence. */
  avcPacketType: number;
  /** H.264 only: pts − dts in milliseconds. */
  compositionTime: number;
  /** The avcC record or the length-prefixed NAL units. */
  data: Buffer;
}

export function parseVideoTag(body: Buffer): VideoTag {
  if (body.length < 1) throw new Error('empty FLV video tag');
  const enhanced = (body[0]! & 0x80) !== 0;
  const frameType = enhanced ? (body[0]! >> 4) & 0x07 : body[0]! >> 4;
  const codecId = enhanced ? undefined : body[0]! & 0x0f;
  if (codecId !== FLV_AVC) return { codecId, keyframe: frameType === 1, avcPacketType: -1, compositionTime: 0, data: body.subarray(1) };
  if (body.length < 5) throw new Error('truncated FLV H.264 tag');
  // composition time: signed 24-bit
  const compositionTime = (body.readUIntBE(2, 3) << 8) >> 8;
  return { codecId, keyframe: frameType === 1, avcPacketType: body[1]!, compositionTime, data: body.subarray(5) };
}

export interface AudioTag {
  /** FLV's SoundFormat (10: AAC, 2: MP3, …). */
  soundFormat: number;
  /** AAC only: 0 the AudioSpecificConfig, 1 a raw frame. */
  aacPacketType: number;
  data: Buffer;
}

export function parseAudioTag(body: Buffer): AudioTag {
  if (body.length < 1) throw new Error('empty FLV audio tag');
  const soundFormat = body[0]! >> 4;
  if (soundFormat !== FLV_AAC) return { soundFormat, aacPacketType: -1, data: body.subarray(1) };
  if (body.length < 2) throw new Error('truncated FLV AAC tag');
  return { soundFormat, aacPacketType: body[1]!, data: body.subarray(2) };
}

/** What AAC's AudioSpecificConfig says: the rate and channels a decoder and a muxer need. */
export function parseAudioSpecificConfig(asc: Buffer): { sampleRate: number; channels: number } {
  const RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
  let bit = 0;
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bit++) {
      if (bit >> 3 >= asc.length) throw new Error('AAC AudioSpecificConfig too short');
      v = v * 2 + ((asc[bit >> 3]! >> (7 - (bit & 7))) & 1);
    }
    return v;
  };
  if (read(5) === 31) read(6); // an escaped object type
  const index = read(4);
  const sampleRate = index === 15 ? read(24) : (RATES[index] ?? 0);
  const channels = read(4);
  if (!(sampleRate > 0) || !(channels >= 1 && channels <= 7)) throw new Error(`AAC AudioSpecificConfig gives ${sampleRate} Hz, channel configuration ${channels}`);
  return { sampleRate, channels: channels === 7 ? 8 : channels };
}

/** `onMetaData`'s properties, or undefined for other data tags. */
export function metadataOf(body: Buffer): Record<string, unknown> | undefined {
  let values;
  try {
    values = decodeAmf0(body);
  } catch {
    return undefined;
  }
  const [name, props] = values;
  if (name !== 'onMetaData') return undefined;
  if (props instanceof Amf0EcmaArray) return props.properties;
  return typeof props === 'object' && props !== null && !Array.isArray(props) ? (props as Record<string, unknown>) : undefined;
}
