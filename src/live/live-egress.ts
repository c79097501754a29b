import { avGetCodecName, type Frame, type Packet, type Stream } from 'node-av/lib';
import { LiveH264Encoder } from '../egress/live-h264.js';
import { H264RtpSender } from '../protocols/webrtc/h264-rtp-sender.js';
import { HlsSink } from '../protocols/hls/hls-sink.js';
import { Recording, type RecordingState } from '../egress/recording.js';
import type { PushState, RtmpPush } from '../protocols/rtmp/rtmp-push.js';
import type { VideoFanout } from '../protocols/webrtc/video-fanout.js';
import type { AudioFanout } from '../protocols/webrtc/audio-fanout.js';
import { AudioTranscoder } from '../egress/audio-transcoder.js';
import { AudioGate } from './audio-gate.js';
import type { X264Preset } from '../egress/x264-presets.js';
import type { PresetChoice } from '../egress/encoder-sizing.js';

export interface LiveEgressOptions {
  /** The stream's own directory for its HLS output. */
  dir: string;
  /** Output frames per second, for the keyframe interval (one keyframe a segment). */
  fps: number;
  /**
   * The exact output rate, when the input announced one: declared to the
   * encoder and the outputs (FLV's `onMetaData` framerate), so players and
   * push targets need not guess it from millisecond timestamps.
   */
  frameRate?: { num: number; den: number };
  /**
   * The input's audio stream: copied to HLS and the push when they take its
   * codec, transcoded to AAC when it is Opus (from WebRTC); relayed to
   * WebRTC viewers as it is when it is Opus, else transcoded to Opus.
   */
  audio?: Stream;
  /**
   * The H.264 encoder's preset (default `veryfast`), or a choice made from
   * the frame size once the first frame arrives (see `EncoderSizing`).
   */
  preset?: X264Preset | ((width: number, height: number, fps: number) => PresetChoice);
  /**
   * Cap of the video bitrate, kbit/s (default `defaultBitrateKbps` of the
   * frame size and rate; 0: no cap, quality alone decides).
   */
  bitrateKbps?: number;
  /** Target HLS segment length in seconds (default 1). */
  segmentSeconds?: number;
  /** An RTMP push already connecting (see `RtmpPush.connect`); the egress owns it from here. */
  push?: RtmpPush;
  /** How long opening waits for the push's connection (default 2 s). */
  pushGraceMs?: number;
  /** Also record the output (video and audio, as HLS gets them) into this MPEG-TS file. */
  record?: string;
  /** Hears why the recording failed, when it does (the stream goes on without it). */
  onRecordingFailed?: (error: string) => void;
  /** WebRTC (WHEP) viewers: the same H.264 packets, as RTP. */
  rtp?: VideoFanout;
  /** WebRTC viewers' audio: Opus, held back to leave with the video of the same time (see `AudioGate`). */
  rtpAudio?: AudioFanout;
}

/** How the audio reaches WebRTC viewers: Opus `relay`ed as it came, or `transcode`d to Opus once for all of them. */
export type WebRtcAudioMode = 'relay' | 'transcode' | 'none';

interface HeldOpus {
  payload: Buffer;
  timestamp: number;
  /** When it was handed to the egress (ms), for the hold statistics. */
  at: number;
  /** Its media time (s), to find the video it belongs with. */
  time: number;
}

/** The Opus frame length `AudioTranscoder` encodes (20 ms, as browsers send). */
const OPUS_FRAME_SECONDS = 0.02;

/**
 * The live output of one stream: encodes the upconverted video ONCE and fans
 * the packets out, with the input's audio copied alongside, to the HLS
 * playlist and, optionally, to an RTMP push.
 *
 * Live settings: x264 `zerolatency` (no B-frames, no lookahead, so a frame
 * leaves the encoder as soon as it goes in) and a keyframe every segment, so
 * each ~1 s segment starts with one, a player can join at any segment, and a
 * push target's viewers wait at most a second for a picture.
 *
 * WebRTC viewers (`rtp`) get the same packets as RTP. A viewer can only
 * start at a keyframe, so `requestKeyframe()` makes the next frame one (a
 * viewer joined, or lost track), rather than making it wait up to a second.
 *
 * The outputs are not equals: HLS is the stream's product, and its errors
 * are the stream's (they throw). The push is best effort: `RtmpPush` never
 * throws and never makes `writeVideo` wait, so a push target that refuses,
 * drops or dawdles only sends the push back to connecting with backoff
 * (see `pushState`) while everything else goes on.
 */
export class LiveEgress implements AsyncDisposable {
  private closed = false;
  /** The encoded video to WebRTC viewers, when there are any. */
  private readonly rtpVideo?: H264RtpSender;
  private readonly opusBase = BigInt(Math.floor(Math.random() * 0x100000000));
  private readonly gate = new AudioGate<HeldOpus>();
  /** AAC → Opus for WebRTC viewers, started when the first one with audio joins. */
  private toOpus?: Promise<AudioTranscoder | undefined>;
  /** The media time of the first packet into `toOpus`, and how many packets came out since. */
  private opusStart?: number;
  private opusCount = 0;
  /** How long relayed audio was held for the video, recent samples (ms). */
  private readonly holds: { at: number; ms: number }[] = [];
  /** How far ahead of the video of its media time relayed audio left, recent samples (ms; negative: after it). */
  private readonly leads: { at: number; ms: number }[] = [];
  /** Recently sent video: media time (s) and when it went out (ms), in order. */
  private readonly videoSends: { time: number; at: number }[] = [];
  /** Audio that left before any video of its time had: its lead is known once that video goes. */
  private readonly ahead: { time: number; at: number }[] = [];
  readonly webrtcAudio: WebRtcAudioMode;

  private constructor(
    private readonly encoder: LiveH264Encoder,
    private readonly hls: HlsSink,
    private readonly recording: Recording | undefined,
    private readonly push: RtmpPush | undefined,
    rtp: VideoFanout | undefined,
    private readonly rtpAudio: AudioFanout | undefined,
    private readonly audio: Stream | undefined,
    /** Opus → AAC for HLS and the push. */
    private readonly toAac: AudioTranscoder | undefined,
  ) {
    const codec = audio ? avGetCodecName(audio.codecpar.codecId) : undefined;
    this.webrtcAudio = !audio || !rtpAudio ? 'none' : codec === 'opus' ? 'relay' : 'transcode';
    if (rtp) this.rtpVideo = new H264RtpSender(rtp, () => encoder.parameterSets());
  }

  static async open(options: LiveEgressOptions): Promise<LiveEgress> {
    const segmentSeconds = options.segmentSeconds ?? 1;
    let encoder: LiveH264Encoder;
    try {
      encoder = await LiveH264Encoder.open({
        fps: options.fps,
        ...(options.frameRate ? { frameRate: options.frameRate } : {}),
        preset: options.preset ?? 'veryfast',
        ...(options.bitrateKbps !== undefined ? { bitrateKbps: options.bitrateKbps } : {}),
        keyframeSeconds: segmentSeconds,
      });
    } catch (err) {
      await options.push?.close();
      throw err;
    }
    let hls: HlsSink | undefined;
    let recording: Recording | undefined;
    let toAac: AudioTranscoder | undefined;
    try {
      // HLS players and FLV take AAC, not WebRTC's Opus.
      if (options.audio && avGetCodecName(options.audio.codecpar.codecId) === 'opus') toAac = await AudioTranscoder.open(options.audio, 'aac');
      const audio = toAac?.encoder ?? options.audio;
      // Every output registers the encoders before their first frame: each muxer
      // takes the stream's parameters (and FLV its global header) from them.
      hls = await HlsSink.open({ dir: options.dir, video: encoder.encoder, audio, segmentSeconds });
      if (options.record !== undefined) recording = await Recording.open({ file: options.record, video: encoder.encoder, audio, onFailed: options.onRecordingFailed });
      await options.push?.attach({ video: encoder.encoder, audio, graceMs: options.pushGraceMs, requestKeyframe: () => encoder.requestKeyframe() });
    } catch (err) {
      // Opening failed: `err` is the reason to report; a half-open HLS writer failing to close adds nothing.
      await hls?.close().catch(() => {});
      await recording?.close();
      await options.push?.close();
      toAac?.close();
      encoder.close();
      throw err;
    }
    return new LiveEgress(encoder, hls, recording, options.push, options.rtp, options.rtpAudio, options.audio, toAac);
  }

  /** The encoder's preset and why, once the first frame has opened it. */
  get encoderPreset(): PresetChoice | undefined {
    return this.encoder.preset;
  }

  /** How the input's audio reaches the HLS output. */
  get audioMode(): 'copy' | 'encode' | 'none' {
    return this.hls.audioMode;
  }

  /** The median time relayed audio waited for its video over the last 2 s (ms), when audio is relayed. */
  audioHoldMs(now = performance.now()): number | undefined {
    return recentMedian(this.holds, now);
  }

  /**
   * How far ahead of the video of the same media time relayed audio left,
   * median over the last 2 s (ms): 0 when it was held until its video went,
   * negative when it arrived after its video had gone (the publisher's audio
   * trailing its video), positive only if audio overtook the picture.
   */
  audioLeadMs(now = performance.now()): number | undefined {
    return recentMedian(this.leads, now);
  }

  /** The recording's file and state, when the stream is recorded. */
  get recordingState(): RecordingState | undefined {
    return this.recording?.state;
  }

  /** The push's state, when there is one. */
  get pushState(): PushState | undefined {
    return this.push?.state;
  }

  /** Makes one of the next frames a keyframe (IDR), at most every 250 ms. */
  requestKeyframe(): void {
    this.encoder.requestKeyframe();
  }

  /** The RTP timestamp WebRTC viewers get the frame at media time `time` (s) under; undefined without WebRTC. */
  rtpTimestamp(time: number): number | undefined {
    return this.rtpVideo?.timestampAt(time);
  }

  /**
   * Encodes one output frame and sends its packets everywhere; the frame
   * stays the caller's. `time` is its media time in seconds (the input's
   * timeline): relayed audio up to that time follows it out. Resolves with
   * when encoding started and ended and when the packets had been handed to
   * every output (x264 `zerolatency` returns a frame's packets for that frame).
   */
  async writeVideo(frame: Frame, time?: number): Promise<{ encodeStart: number; encoded: number; sent: number }> {
    const now = performance.now();
    const packets = await this.encoder.encode(frame);
    const encoded = performance.now();
    await this.send(packets);
    const sent = performance.now();
    if (time !== undefined) {
      this.videoSends.push({ time, at: sent });
      if (this.videoSends.length > 256) this.videoSends.shift();
      while (this.ahead.length > 0 && this.ahead[0]!.time <= time) this.leads.push({ at: sent, ms: sent - this.ahead.shift()!.at });
      this.sendOpus(this.gate.videoSent(time));
    }
    return { encodeStart: now, encoded, sent };
  }

  /** Sends one audio packet everywhere (copied or transcoded as each output needs); the packet stays the caller's. */
  async writeAudio(packet: Packet): Promise<void> {
    if (this.toAac) {
      const packets = await this.toAac.transcode(packet);
      try {
        for (const aac of packets) {
          this.push?.write(aac, 'audio');
          await this.hls.writeAudio(aac);
          await this.recording?.writeAudio(aac);
        }
      } finally {
        for (const aac of packets) aac.free();
      }
    } else {
      this.push?.write(packet, 'audio');
      await this.hls.writeAudio(packet);
      await this.recording?.writeAudio(packet);
    }
    await this.relayAudio(packet);
  }

  /** Flushes the encoder, ends the playlist (`#EXT-X-ENDLIST`) and hangs up the push. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.send(await this.encoder.flush());
      this.sendOpus(this.gate.drain());
      if (this.toAac) {
        const packets = await this.toAac.flush();
        for (const aac of packets) {
          this.push?.write(aac, 'audio');
          await this.hls.writeAudio(aac);
          await this.recording?.writeAudio(aac);
          aac.free();
        }
      }
    } finally {
      this.toAac?.close();
      void this.toOpus?.then((transcoder) => transcoder?.close());
      try {
        await this.recording?.close();
        await this.hls.close();
      } finally {
        // The push reads the encoder's parameters on its first packet: close it first.
        await this.push?.close();
        this.encoder.close();
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async send(packets: Packet[]): Promise<void> {
    try {
      for (const packet of packets) {
        this.push?.write(packet, 'video');
        this.rtpVideo?.send(packet);
        await this.hls.writeVideo(packet);
        await this.recording?.writeVideo(packet);
      }
    } finally {
      for (const packet of packets) packet.free();
    }
  }

  /** Opus for WebRTC viewers: into the gate (transcoded first if the input is not Opus); what the gate lets out is sent. */
  private async relayAudio(packet: Packet): Promise<void> {
    if (this.webrtcAudio === 'none' || !this.audio) return;
    const { num, den } = this.audio.timeBase;
    const time = (Number(packet.pts) * num) / den;
    if (this.webrtcAudio === 'relay') {
      if (this.rtpAudio?.count && packet.data) this.gateOpus(Buffer.from(packet.data), time); // a copy: the packet goes back to FFmpeg
      return;
    }
    // Started on the first viewer, then fed all along (one encode for every viewer, and its clock unbroken).
    if (!this.toOpus && !this.rtpAudio?.count) return;
    this.toOpus ??= AudioTranscoder.open(this.audio, 'opus').catch(() => undefined);
    const transcoder = await this.toOpus;
    if (!transcoder) return;
    // The encoder's packets are 20 ms each, back to back from the first input packet. Their own
    // timestamps are no use here: after node-av's resampler they count from the encoder's start
    // (and were labelled 1/44100 for 48 kHz samples, measured), not on the input's timeline.
    this.opusStart ??= time;
    const packets = await transcoder.transcode(packet);
    for (const opus of packets) {
      if (opus.data) this.gateOpus(Buffer.from(opus.data), this.opusStart + this.opusCount * OPUS_FRAME_SECONDS);
      this.opusCount++;
      opus.free();
    }
  }

  /** One Opus packet at media time `time` (seconds) into the gate. */
  private gateOpus(payload: Buffer, time: number): void {
    const timestamp = Number((this.opusBase + BigInt(Math.round(time * 48000))) & 0xffffffffn);
    this.sendOpus(this.gate.push(time, { payload, timestamp, at: performance.now(), time }));
  }

  private sendOpus(items: HeldOpus[]): void {
    if (items.length === 0) return;
    const now = performance.now();
    for (const item of items) {
      this.rtpAudio?.writeOpus(item.payload, item.timestamp);
      this.holds.push({ at: now, ms: now - item.at });
      // The first video frame at or after its time is the one it belongs with; none sent yet: the audio is ahead of it.
      const video = this.videoSends.find((v) => v.time >= item.time);
      if (video) this.leads.push({ at: now, ms: video.at - now });
      else if (this.ahead.length < 512) this.ahead.push({ time: item.time, at: now });
    }
    for (const samples of [this.holds, this.leads]) if (samples.length > 512) samples.splice(0, samples.length - 512);
  }
}

/** The median of the samples of the last 2 s (dropping older ones), rounded; undefined without any. */
function recentMedian(samples: { at: number; ms: number }[], now: number): number | undefined {
  while (samples.length > 0 && now - samples[0]!.at > 2000) samples.shift();
  if (samples.length === 0) return undefined;
  const sorted = samples.map((h) => h.ms).sort((a, b) => a - b);
  return Math.round(sorted[sorted.length >> 1]!);
}
