import type { Logger } from '../base/logger.js';
import type { X264Preset } from '../egress/x264-presets.js';
import type { PresetChoice } from '../egress/encoder-sizing.js';
import type { RecordingState } from '../egress/recording.js';
import type { InterpolatorChoice } from '../engine/model/model-choice.js';
import type { SemanticChoice } from '../engine/semantic/semantic-stage.js';
import type { Synthesizer } from '../engine/synthesis/synthesis.js';
import type { FallbackCount, RungCount } from '../engine/upconverter.js';
import type { LiveInput, PullState } from '../ingest/live-source.js';
import type { FrameSink } from '../pipeline/frame-pipeline.js';
import type { PushState } from '../protocols/rtmp/rtmp-push.js';
import type { LiveEgressOptions, WebRtcAudioMode } from './live-egress.js';
import type { LiveLimits } from './live-admission.js';
import type { OriginalEncoderState } from './original-encoder.js';
import type { StreamTimingSnapshot } from './stream-timings.js';
import type { TimestampClock } from './timeline-repair.js';

/**
 * `starting`: waiting for the publisher's codec headers and the first frames;
 * `live`: HLS is being written; `ended`: the publisher left (or `stop()`) and
 * the playlist is complete; `failed`: the stream could not be processed
 * (`error` says why). Only the last two are final.
 */
export type LiveStreamState = 'starting' | 'live' | 'ended' | 'failed';

export interface LiveStreamStats {
  key: string;
  /** This publish's id: the `streamId` on its log lines. */
  id?: string;
  state: LiveStreamState;
  /** Why the stream failed, when it did. */
  error?: string;
  /** How the publisher sends: `rtmp` or `whip`; for a pulled source its URL's scheme (`rtsp`, `udp`, …) or `file`. */
  protocol: string;
  /** When the publish started (ISO 8601). */
  startedAt: string;
  uptimeSeconds: number;
  /** Decoded input frames per second over the last few seconds. */
  inputFps: number;
  /** Encoded output frames per second over the last few seconds. */
  outputFps: number;
  width?: number;
  height?: number;
  /** The publisher's video codec. */
  codec?: string;
  /**
   * Where the frames' timestamps come from: the publisher's (`source`, jumps
   * and resets folded into one timeline), or their `arrival`, once the
   * publisher's proved unusable (all 0, decreasing, random; a warning says so).
   */
  timestamps?: TimestampClock;
  /** How the audio reaches HLS and the push: copied, `encode`d (WebRTC's Opus to AAC), or `none`. */
  audio?: 'copy' | 'encode' | 'none';
  /** How the audio reaches WebRTC viewers: Opus `relay`ed, `transcode`d to Opus (from RTMP's AAC), or `none`. */
  webrtcAudio?: 'relay' | 'transcode' | 'none';
  /**
   * How long WebRTC viewers' audio was held back so it leaves with the video
   * of the same time (median over the last 2 s, ms): it tracks `latencyMs`.
   */
  audioHoldMs?: number;
  /**
   * How far ahead of the video of the same time that audio left (median over
   * the last 2 s, ms): 0 when held until its video went, negative when the
   * publisher's audio arrived after its video had gone; never much above 0.
   */
  audioLeadMs?: number;
  /** The RTMP push of the output, when one is configured: `connecting`, `live`, `retrying: <reason>` (it reconnects with backoff) or `ended`. */
  push?: PushState;
  /** A pulled source's state (`frc serve --pull`): `connecting`, `live`, `retrying: <reason>` or `ended`. */
  pull?: PullState;
  /** The recording of the output, when the stream is recorded: its file, and whether it is being written, finished or failed (with why). */
  recording?: RecordingState;
  /** The output encoder's libx264 preset, once the first frame has opened it. */
  encoderPreset?: X264Preset;
  /** Why that preset: `configured`, or what `auto` measured (the cores it needs, and those idle as the stream started). */
  encoderPresetReason?: string;
  interpolator?: string;
  framesIn: number;
  framesOut: number;
  interpolated: number;
  /** Slots rendered by a fallback: `fallbackFrames` says why (`error`, `deadline`) and by which (a rung of the model's ladder, `fast` behind a slower model, `blend`, `dup`). */
  fallbacks: number;
  fallbackFrames: FallbackCount[];
  /**
   * Every synthesized slot by the synthesizer that rendered it: the model
   * (the ladder's top rung, e.g. `frc-ifnet-fast`), its rungs
   * (`frc-ifnet-fast/reuse`; `…/bilinear` under a bicubic card), `blend`, `dup`.
   * Sums to `interpolated + fallbacks`.
   */
  rungFrames: RungCount[];
  /** How long the model's warm-up on the first decoded frame took, before the first slot (ms; 0 without one). */
  warmUpMs: number;
  /** Synthesized frames that were ready after their deadline all the same. */
  lateFrames: number;
  repeated: number;
  /** Decoded frames thrown away because the engine fell behind the publisher. */
  ringDrops: number;
  decodeErrors: number;
  /** WebRTC (WHEP) viewers connected now, of the upconverted stream. */
  viewers: number;
  /** WebRTC viewers of the original (the input without upconverting). */
  originalViewers: number;
  /**
   * How the original reaches them, once the publisher's codec is known:
   * `relayed` as it came (H.264 and VP8), or `encoded` as H.264 from the
   * input frames (any other codec, the test pattern), once for all of them.
   */
  original?: 'relayed' | 'encoded';
  /** The encoder of an `encoded` original: `encoding` while it has viewers, else `idle`; `failed: <why>` ends only the original. */
  originalEncoder?: OriginalEncoderState;
  /** Frames that encoder has encoded since the stream started. */
  originalFramesEncoded?: number;
  /**
   * Added latency in ms: how long after an input frame arrived (its encoded
   * data demuxed or reassembled) it left the server (encoded and handed to
   * the outputs), median over the last 2 s. It includes the wait for the
   * next input frame, which interpolating between the two needs.
   */
  latencyMs?: number;
  /** The time the engine gives the slots of one input frame interval (ms), when deadlines are on. */
  deadlineMs?: number;
  /** Scene cuts the semantic stage found, when it runs (each gap was filled by repeating the nearer frame). */
  sceneCuts?: number;
}

/** What `/metrics` shows of a stream: its stats and its timing histograms. */
export interface LiveStreamMetrics {
  stats: LiveStreamStats;
  timings: StreamTimingSnapshot;
}

export interface LiveStreamEvents {
  /** The state changed; `ended` and `failed` are the last. */
  state: [state: LiveStreamState];
}

export interface LiveStreamOptions extends InterpolatorChoice, SemanticChoice, LiveLimits {
  key: string;
  /**
   * Wraps the stream's synthesizer (the reliability tests inject faults with
   * it; instrumentation could use it too). A wrapped synthesizer gets blend as
   * its fallback, as a model does, since the wrapper may fail where it does not.
   */
  wrapSynthesizer?: (synthesizer: Synthesizer, key: string) => Synthesizer;
  /** This publish's id, for stats and logs (a new publish on the same key gets a new one). */
  id?: string;
  /** The publisher (RTMP's FLV, a WHIP session); aborting it drops the publisher. */
  input: LiveInput;
  /** The stream's own directory for its HLS output; `close()` removes it. */
  dir: string;
  /** Output frames per input frame (default 2). */
  factor?: number;
  /** Also publish the output to this RTMP URL; its failure ends only the push, never the stream. */
  push?: string;
  /** Record the output into this MPEG-TS file (kept after the stream; see `Recording`). */
  record?: string;
  /**
   * How long the publisher may take to deliver its first video frame (ms,
   * default 15 s), counted while the stream waits on it: opening the input
   * (its codec headers), then, once the engine has loaded, the first frame
   * decoded. Past it the stream fails and the publisher is dropped.
   */
  startTimeoutMs?: number;
  /** Decoded frames held ahead of the engine before the oldest is dropped (default 8). */
  bufferFrames?: number;
  /** Where the stream logs (the server gives each stream a child logger carrying its key and id). */
  logger?: Logger;
  /** Clock for the rate meters, deadlines and timings, in ms (default `performance.now`). */
  now?: () => number;
  /**
   * Per-slot deadlines: when the interpolator cannot have a slot ready in
   * time, a cheaper synthesizer renders it instead (`fast` behind a slower
   * model, then blend, then dup if even blend would be late),
   * counted in `fallbackFrames`. `false` turns them off (every slot waits for
   * the interpolator; the ring drops input frames instead when it falls behind).
   */
  deadline?: boolean;
  /**
   * How long the slots of one input frame interval may take from the arrival
   * of the frame that closes it (ms). Default: one and a half input frame
   * intervals (`LIVE_BUDGET_INTERVALS`).
   */
  deadlineMs?: number;
  /**
   * The output encoder's libx264 preset (default `veryfast`), or a function
   * that chooses it from the output's size and rate (the server's
   * `EncoderSizing` for `encoderPreset: auto`).
   */
  encoderPreset?: X264Preset | ((width: number, height: number, fps: number) => PresetChoice);
  /** Cap of the output video bitrate, kbit/s (see `LiveEgressOptions.bitrateKbps`). */
  videoBitrateKbps?: number;
  /** Opens the stream's egress (default `LiveEgress.open`); a test passes a fake that records what it gets. */
  openEgress?: (options: LiveEgressOptions) => Promise<StreamEgress>;
}

/**
 * What a live stream needs of its egress (`LiveEgress`): a sink for the
 * pipeline's frames and audio, and what its stats and viewers ask of it.
 */
export interface StreamEgress extends FrameSink, AsyncDisposable {
  /** How the input's audio reaches HLS. */
  readonly audioMode: 'copy' | 'encode' | 'none';
  readonly webrtcAudio: WebRtcAudioMode;
  readonly recordingState: RecordingState | undefined;
  /** The encoder's preset and why, once the first frame has opened it. */
  readonly encoderPreset?: PresetChoice;
  audioHoldMs(): number | undefined;
  audioLeadMs(): number | undefined;
  /** Makes one of the next frames a keyframe (a viewer joined, or lost track). */
  requestKeyframe(): void;
  /** The RTP timestamp WebRTC viewers get the frame at media time `time` (s) under (absent or undefined: none). */
  rtpTimestamp?(time: number): number | undefined;
  /** Flushes the encoder and ends every output; the playlist is final after it. */
  close(): Promise<void>;
}
