import type { Readable } from 'node:stream';
import { Decoder, Demuxer } from 'node-av/api';
import type { Packet, Stream } from 'node-av/lib';
import { avGetCodecName } from 'node-av/lib';
import { FF_THREAD_SLICE } from 'node-av/constants';
import { annexBFromAvcc } from '../base/avcc.js';
import { InputError } from '../base/errors.js';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import type { Rational } from '../base/rational.js';
import type { EncodedItem } from './live-source.js';

/** A publisher's byte stream opened by FFmpeg: its demuxer, the video's decoder and streams. */
export interface DemuxedStream {
  demuxer: Demuxer;
  decoder: Decoder;
  video: Stream;
  audio: Stream | undefined;
}

/**
 * Opens a live byte stream (`format`: FFmpeg's demuxer, `flv` or `mpegts`)
 * through node-av's custom I/O, once FFmpeg has seen its codec headers
 * (bounded by `probeSeconds`); rejects with an `InputError` naming `name`
 * when it cannot be read or carries no usable video.
 */
export async function openDemuxedStream(bytes: Readable, format: string, label: string, name: string, probeSeconds: number): Promise<DemuxedStream> {
  let demuxer: Demuxer;
  try {
    // Probing reads (and keeps) the first packets; a short bound gets the stream going sooner.
    // Not `fflags nobuffer`: that would throw those packets away.
    demuxer = await Demuxer.open(bytes, { format, options: { analyzeduration: String(Math.round(probeSeconds * 1e6)) } });
  } catch (err) {
    throw new InputError(`cannot read ${name} as ${label}: ${await describeFfmpegError(err)}`);
  }
  const video = demuxer.video();
  if (!video || video.codecpar.width <= 0 || video.codecpar.height <= 0) {
    await demuxer.close();
    throw new InputError(`${name} carries no usable video`);
  }
  let decoder: Decoder;
  try {
    // Slice threads only: frame threads hold each frame back one frame per thread,
    // latency a live stream cannot afford (bench/history, "RTMP in H.264/AAC without FFmpeg's demuxer").
    decoder = await Decoder.create(video, { threadCount: 0, threadType: FF_THREAD_SLICE });
  } catch (err) {
    await demuxer.close();
    throw new InputError(`${name}: cannot decode ${avGetCodecName(video.codecpar.codecId)} video: ${await describeFfmpegError(err)}`);
  }
  return { demuxer, decoder, video, audio: demuxer.audio() };
}

/** The frame rate the stream announced or FFmpeg measured while probing, if plausible. */
export function announcedFrameRate(video: Stream): Rational | undefined {
  const { num, den } = video.avgFrameRate;
  return num > 0 && den > 0 && num / den >= 1 && num / den <= 240 ? { num, den } : undefined;
}

/** An H.264 packet as viewers of the original get it: Annex-B, its pts as a 90 kHz RTP timestamp. */
export function encodedH264(packet: Packet & { data: Buffer }, timeBase: Rational): EncodedItem {
  const timestamp = Number(((packet.pts * 90000n * BigInt(timeBase.num)) / BigInt(timeBase.den)) & 0xffffffffn);
  return { kind: 'encoded', codec: 'H264', data: annexBFromAvcc(packet.data), keyframe: packet.isKeyframe, timestamp };
}
