import { extname } from 'node:path';
import { Decoder, Encoder, Muxer } from 'node-av/api';
import { Codec, avGetCodecName, type Frame, type Packet, type Stream } from 'node-av/lib';
import {
  FF_ENCODER_AAC,
  FF_ENCODER_LIBOPUS,
  FF_ENCODER_LIBVPX_VP8,
  FF_ENCODER_LIBX264,
  type FFAudioEncoder,
  type FFVideoEncoder,
} from 'node-av/constants';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import { OutputError } from '../base/errors.js';
import { SerialWrites } from './serial-writes.js';
import { closeMuxer } from './close-muxer.js';

interface ContainerRule {
  video: FFVideoEncoder;
  videoOptions: Record<string, string>;
  /** Audio codecs the container stores as they are; others are re-encoded with `audio`. */
  copyAudio: Set<string> | 'any';
  audio: FFAudioEncoder;
}

const H264 = { video: FF_ENCODER_LIBX264, videoOptions: { preset: 'veryfast', crf: '18' } } as const;
const MP4_AUDIO = new Set(['aac', 'mp3', 'ac3', 'eac3', 'alac', 'flac', 'opus']);

const CONTAINERS: Record<string, ContainerRule> = {
  '.mp4': { ...H264, copyAudio: MP4_AUDIO, audio: FF_ENCODER_AAC },
  '.m4v': { ...H264, copyAudio: MP4_AUDIO, audio: FF_ENCODER_AAC },
  '.mov': { ...H264, copyAudio: new Set([...MP4_AUDIO, 'pcm_s16le', 'pcm_s24le']), audio: FF_ENCODER_AAC },
  '.mkv': { ...H264, copyAudio: 'any', audio: FF_ENCODER_AAC },
  '.ts': { ...H264, copyAudio: new Set(['aac', 'mp3', 'mp2', 'ac3', 'eac3', 'opus']), audio: FF_ENCODER_AAC },
  '.flv': { ...H264, copyAudio: new Set(['aac', 'mp3']), audio: FF_ENCODER_AAC },
  '.webm': {
    video: FF_ENCODER_LIBVPX_VP8,
    videoOptions: { deadline: 'realtime', 'cpu-used': '8', crf: '10', b: '4M' },
    copyAudio: new Set(['opus', 'vorbis']),
    audio: FF_ENCODER_LIBOPUS,
  },
};

export interface FileSinkOptions {
  path: string;
  /** The input's first audio stream: copied when the container takes its codec, else re-encoded. */
  audio?: Stream;
}

/**
 * Encodes the upconverted video and muxes it with the input's audio into a
 * file. Frames must arrive with `pts` and `timeBase` set; the encoder takes
 * its size, pixel format and time base from the first one.
 */
export class FileSink implements AsyncDisposable {
  /** `copy` or the encoder re-encoding the audio; `none` without audio. */
  readonly audioMode: 'copy' | 'encode' | 'none';
  private closed = false;
  private readonly writes = new SerialWrites();

  private constructor(
    private readonly muxer: Muxer,
    private readonly encoder: Encoder,
    private readonly videoIndex: number,
    private readonly audioIndex: number,
    private readonly audioTranscode?: { decoder: Decoder; encoder: Encoder },
  ) {
    this.audioMode = audioIndex < 0 ? 'none' : audioTranscode ? 'encode' : 'copy';
  }

  static async open(options: FileSinkOptions): Promise<FileSink> {
    const rule = CONTAINERS[extname(options.path).toLowerCase()];
    if (!rule) {
      throw new OutputError(`cannot tell the output format from "${options.path}": use one of ${Object.keys(CONTAINERS).join(', ')}`);
    }
    let muxer: Muxer;
    try {
      // Without node-av's background write worker: see SerialWrites.
      muxer = await Muxer.open(options.path, { useAsyncWrite: false });
    } catch (err) {
      throw new OutputError(`cannot write ${options.path}: ${await describeFfmpegError(err)}`);
    }
    const encoder = await Encoder.create(rule.video, { options: rule.videoOptions } as never);
    const videoIndex = muxer.addStream(encoder);

    let audioIndex = -1;
    let audioTranscode: { decoder: Decoder; encoder: Encoder } | undefined;
    if (options.audio) {
      const codecName = avGetCodecName(options.audio.codecpar.codecId) ?? '';
      if (rule.copyAudio === 'any' || rule.copyAudio.has(codecName)) {
        audioIndex = muxer.addStream(options.audio);
        // The source container's codec tag (MP4's 'mp4a') means nothing to, or is refused by,
        // another container: let the muxer choose its own, as the ffmpeg CLI does.
        muxer.getStream(audioIndex)!.codecpar.codecTag = 0;
      } else if (Codec.findEncoderByName(rule.audio)) {
        const decoder = await Decoder.create(options.audio);
        const audioEncoder = await Encoder.create(rule.audio, { bitrate: '160k', autoResample: true });
        audioIndex = muxer.addStream(audioEncoder);
        audioTranscode = { decoder, encoder: audioEncoder };
      }
    }
    return new FileSink(muxer, encoder, videoIndex, audioIndex, audioTranscode);
  }

  /** Encodes one output frame; the frame stays the caller's. */
  async writeVideo(frame: Frame): Promise<void> {
    for (const packet of await this.encoder.encodeAll(frame)) {
      try {
        await this.write(packet, this.videoIndex);
      } finally {
        packet.free();
      }
    }
  }

  async writeAudio(packet: Packet): Promise<void> {
    if (this.audioIndex < 0) return;
    if (!this.audioTranscode) {
      await this.write(packet, this.audioIndex);
      return;
    }
    for (const frame of await this.audioTranscode.decoder.decodeAll(packet)) {
      await this.encodeAudio(frame);
    }
  }

  /** Flushes the encoders and writes the trailer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const packet of await this.encoder.encodeAll(null)) await this.write(packet, this.videoIndex);
      if (this.audioTranscode) {
        for (const frame of await this.audioTranscode.decoder.decodeAll(null)) await this.encodeAudio(frame);
        for (const packet of await this.audioTranscode.encoder.encodeAll(null)) await this.write(packet, this.audioIndex);
      }
      await this.writes.drained();
    } finally {
      await this.writes.settled();
      await closeMuxer(this.muxer);
      this.encoder.close();
      this.audioTranscode?.decoder.close();
      this.audioTranscode?.encoder.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async encodeAudio(frame: Frame): Promise<void> {
    for (const packet of await this.audioTranscode!.encoder.encodeAll(frame)) {
      try {
        await this.write(packet, this.audioIndex);
      } finally {
        packet.free();
      }
    }
    frame.free();
  }

  /** Muxes one packet after the writes before it (the packet stays the caller's). */
  private write(packet: Packet, index: number): Promise<void> {
    return this.writes.write(packet, (own) => this.muxer.writePacket(own, index));
  }
}
