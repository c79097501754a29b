import { Decoder, Encoder } from 'node-av/api';
import type { Packet, Stream } from 'node-av/lib';
import { FF_ENCODER_AAC, FF_ENCODER_LIBOPUS } from 'node-av/constants';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import { OutputError } from '../base/errors.js';

export type AudioTarget = 'aac' | 'opus';

function createEncoder(target: AudioTarget): Promise<Encoder> {
  if (target === 'aac') return Encoder.create(FF_ENCODER_AAC, { bitrate: '128k', autoResample: true });
  // WebRTC's Opus: 20 ms frames (what browsers send and their jitter buffers expect), tuned for low delay.
  return Encoder.create(FF_ENCODER_LIBOPUS, { bitrate: '96k', autoResample: true, options: { application: 'lowdelay', frame_duration: 20 } });
}

/**
 * One audio stream re-encoded: Opus from WebRTC to AAC for HLS and RTMP,
 * or AAC from RTMP to Opus for WebRTC. FFmpeg does all of it (decode,
 * resample to what the encoder takes, re-frame 960 ↔ 1024 samples, encode);
 * packets keep the input's timeline, so they stay in sync with the video.
 *
 * The encoder is created before its first frame, so a muxer can register
 * it (`addStream`) up front, as with the shared video encoder.
 */
export class AudioTranscoder implements AsyncDisposable {
  private closed = false;

  private constructor(
    private readonly decoder: Decoder,
    readonly encoder: Encoder,
  ) {}

  static async open(input: Stream, target: AudioTarget): Promise<AudioTranscoder> {
    let decoder: Decoder | undefined;
    try {
      decoder = await Decoder.create(input);
      const encoder = await createEncoder(target);
      return new AudioTranscoder(decoder, encoder);
    } catch (err) {
      decoder?.close();
      throw new OutputError(`cannot transcode the audio to ${target}: ${await describeFfmpegError(err)}`);
    }
  }

  /** One input packet in (it stays the caller's), whatever encoded packets are ready out (the caller frees them). */
  async transcode(packet: Packet): Promise<Packet[]> {
    if (this.closed) return [];
    const out: Packet[] = [];
    for (const frame of await this.decoder.decodeAll(packet)) {
      try {
        out.push(...(await this.encoder.encodeAll(frame)));
      } finally {
        frame.free();
      }
    }
    return out;
  }

  /** The encoder's last packets, at the end of the stream. */
  async flush(): Promise<Packet[]> {
    if (this.closed) return [];
    const out: Packet[] = [];
    for (const frame of await this.decoder.decodeAll(null)) {
      out.push(...(await this.encoder.encodeAll(frame)));
      frame.free();
    }
    out.push(...(await this.encoder.encodeAll(null)));
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.decoder.close();
    this.encoder.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
