import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import type { Frame } from 'node-av/lib';
import { LiveEgress } from './live-egress.js';
import type { X264Preset } from '../egress/x264-presets.js';
import { VideoFanout } from '../protocols/webrtc/video-fanout.js';
import { AudioFanout } from '../protocols/webrtc/audio-fanout.js';
import type { WhepViewer } from '../protocols/webrtc/whep-viewer.js';
import { type PushState, RtmpPush } from '../protocols/rtmp/rtmp-push.js';
import type { RecordingState } from '../egress/recording.js';
import { resolveKind, type InterpolatorChoice } from '../engine/model/model-choice.js';
import { createFastFallback, createSynthesizer } from '../engine/synthesis/create-synthesizer.js';
import type { FrameTiming } from '../engine/timing/frame-timing.js';
import { BlendSynthesizer, DupSynthesizer, type Synthesizer } from '../engine/synthesis/synthesis.js';
import { type RenderedFrame, Upconverter, type UpconverterStats, type FallbackCount } from '../engine/upconverter.js';
import type { EncodedItem, LiveInput, LiveSource } from '../ingest/live-source.js';
import { FrameNormalizer, type NormalizedFrame } from '../ingest/frame-normalizer.js';
import { RingBuffer } from '../base/ring-buffer.js';
import { pushAll, runStages } from '../pipeline/stages.js';
import type { Logger } from '../base/logger.js';
import { RateGrid } from './rate-grid.js';
import { RateMeter } from './rate-meter.js';
import { ArrivalLog } from './arrival-log.js';
import { StreamTimings, type StreamTimingSnapshot } from './stream-timings.js';
import { TimelineRepair } from './timeline-repair.js';
import { BitrateGuard } from './bitrate-guard.js';
import { interpolatorThreads, type SemanticChoice, SemanticStage } from '../engine/semantic/semantic-stage.js';

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
  /** How the publisher sends: `rtmp` or `whip`. */
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
  /** The RTMP push of the output, when one is configured: `connecting`, `ok`, `ended` or `failed: <reason>`. */
  push?: PushState;
  /** The recording of the output, when the stream is recorded: its file, and whether it is being written, finished or failed (with why). */
  recording?: RecordingState;
  interpolator?: string;
  framesIn: number;
  framesOut: number;
  interpolated: number;
  /** Slots rendered by a stand-in: `fallbackFrames` says why (`error`, `deadline`) and by which (`fast` behind a slower model, `blend`, `dup`). */
  fallbacks: number;
  fallbackFrames: FallbackCount[];
  /** Synthesized frames that were ready after their deadline all the same. */
  lateFrames: number;
  repeated: number;
  /** Decoded frames thrown away because the engine fell behind the publisher. */
  ringDrops: number;
  decodeErrors: number;
  /** WebRTC (WHEP) viewers connected now, of the upconverted stream. */
  viewers: number;
  /** WebRTC viewers of the original (the publisher's video relayed as it came). */
  originalViewers: number;
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

export interface LiveStreamOptions extends InterpolatorChoice, SemanticChoice {
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
  /** Largest video accepted; a larger frame fails the stream (and drops its publisher) with the reason. */
  maxWidth?: number;
  maxHeight?: number;
  /** Largest media bitrate (video plus audio, 5 s average) the publisher may send, kbit/s; over it the stream fails with the reason. */
  maxBitrateKbps?: number;
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
  /** The output encoder's libx264 preset (default `veryfast`). */
  encoderPreset?: X264Preset;
  /** Cap of the output video bitrate, kbit/s (see `LiveEgressOptions.bitrateKbps`). */
  videoBitrateKbps?: number;
}

const quietLogger: Logger = { info: () => {}, warn: () => {} };

/**
 * The default deadline of a live gap's slots, in input frame intervals after
 * the arrival of the frame that closes it. One interval is the least that
 * keeps up; the half on top lets a slow model run borrow from the next
 * interval instead of handing the slot to blend. On the 2-core machine
 * (twelve rows each way): 77 % of 720p slots by the model against 43 % at
 * one interval, 480p 94 % against 84 %; p99 added latency at 720p 110–173
 * ms against 98–141 (pass-through 65–110; bench/RESULTS.md).
 */
export const LIVE_BUDGET_INTERVALS = 1.5;

/**
 * One published stream, live: FLV in, upconverted HLS out (and, with `push`,
 * the same encoded output published to another RTMP server).
 *
 *   source (FLV or WebRTC) → ring (drop-oldest) → Upconverter → ring (wait) → LiveEgress → HLS (+ RTMP push)
 *
 * The stages run concurrently as in `convert`, with one difference: a live
 * source cannot be made to wait, so when the engine (or the encoder behind
 * it) falls behind, the first ring drops its oldest decoded frame and counts
 * it rather than letting latency grow without bound. The engine then
 * interpolates across the wider gap. Audio goes straight to the sink.
 *
 * Nothing a stream does throws out of it: every failure ends in state
 * `failed` with the reason in the stats, so a bad publisher never takes
 * others (or the server) down.
 */
export class LiveStream extends EventEmitter<LiveStreamEvents> {
  readonly key: string;
  readonly dir: string;
  /** Settles (never rejects) once the pipeline has stopped and the playlist is final. */
  readonly done: Promise<void>;
  private currentState: LiveStreamState = 'starting';
  private error?: string;
  private readonly startedAt = new Date();
  private readonly now: () => number;
  private readonly inputRate: RateMeter;
  private readonly outputRate: RateMeter;
  /** The stream's logger: its parts (viewers, push) log through it too. */
  readonly logger: Logger;
  private engineStats?: Readonly<UpconverterStats>;
  private source?: LiveSource;
  private sink?: LiveEgress;
  private push?: RtmpPush;
  private normalizer?: FrameNormalizer;
  private interpolator?: string;
  private ringDrops = 0;
  private readonly fanout: VideoFanout;
  private readonly audioFanout = new AudioFanout();
  private readonly viewers = new Set<WhepViewer>();
  /** The publisher's video as it came, to viewers of the original; keyframes come when the publisher sends them (WHIP: asked for). */
  private readonly originalFanout: VideoFanout;
  private readonly originalViewers = new Set<WhepViewer>();
  private parameterSets: Buffer[] = [];
  private readonly arrivals = new ArrivalLog();
  /** Every output frame's timing record, as it leaves. */
  readonly timings = new StreamTimings();
  private deadlineMs?: number;
  private semantic?: SemanticStage;
  private stopping = false;
  private closed = false;

  constructor(private readonly options: LiveStreamOptions) {
    super();
    this.key = options.key;
    this.dir = options.dir;
    this.now = options.now ?? (() => performance.now());
    this.inputRate = new RateMeter();
    this.outputRate = new RateMeter();
    this.logger = options.logger ?? quietLogger;
    this.fanout = new VideoFanout({ onKeyframeNeeded: () => this.sink?.requestKeyframe() });
    this.originalFanout = new VideoFanout({ onKeyframeNeeded: () => this.source?.requestKeyframe?.() });
    this.done = this.run();
  }

  get state(): LiveStreamState {
    return this.currentState;
  }

  /** True once the playlist is final (ended or failed). */
  get finished(): boolean {
    return this.currentState === 'ended' || this.currentState === 'failed';
  }

  /**
   * Adds a WebRTC viewer: from here the stream owns it, sends it the encoded
   * video, and closes it when either ends. A finished stream closes it at once.
   */
  addViewer(viewer: WhepViewer): void {
    if (this.finished) {
      viewer.close('stream ended');
      return;
    }
    this.viewers.add(viewer);
    this.fanout.add(viewer);
    this.audioFanout.add(viewer);
    viewer.on('end', () => {
      this.viewers.delete(viewer);
      this.fanout.remove(viewer.id);
      this.audioFanout.remove(viewer.id);
    });
  }

  /**
   * Adds a viewer of the original: the publisher's encoded video relayed
   * without decoding or upconverting (its codec must be the publisher's,
   * see `originalCodec`). Owned as `addViewer`'s are.
   */
  addOriginalViewer(viewer: WhepViewer): void {
    if (this.finished) {
      viewer.close('stream ended');
      return;
    }
    this.originalViewers.add(viewer);
    this.originalFanout.add(viewer);
    this.audioFanout.add(viewer);
    viewer.on('end', () => {
      this.originalViewers.delete(viewer);
      this.originalFanout.remove(viewer.id);
      this.audioFanout.remove(viewer.id);
    });
  }

  /** The publisher's video codec as WebRTC names it, once known: what a viewer of the original must take. */
  get originalCodec(): 'H264' | 'VP8' | undefined {
    const codec = this.source?.videoCodec;
    return codec === 'h264' ? 'H264' : codec === 'vp8' ? 'VP8' : undefined;
  }

  /** A viewer of the original needs a keyframe (joined, or lost track): a WHIP publisher is asked; RTMP's come every GOP. */
  requestOriginalKeyframe(): void {
    this.source?.requestKeyframe?.();
  }

  /** A viewer needs a keyframe (it joined, or its decoder lost track). */
  requestKeyframe(): void {
    this.sink?.requestKeyframe();
  }

  stats(): LiveStreamStats {
    const now = this.now();
    const s = this.engineStats;
    const geometry = this.normalizer?.geometry;
    const final = this.finished;
    return {
      key: this.key,
      ...(this.options.id !== undefined ? { id: this.options.id } : {}),
      protocol: this.options.input.protocol,
      state: this.currentState,
      ...(this.error !== undefined ? { error: this.error } : {}),
      startedAt: this.startedAt.toISOString(),
      uptimeSeconds: (Date.now() - this.startedAt.getTime()) / 1000,
      inputFps: final ? 0 : round(this.inputRate.rate(now)),
      outputFps: final ? 0 : round(this.outputRate.rate(now)),
      width: geometry?.width,
      height: geometry?.height,
      codec: this.source?.videoCodec,
      audio: this.sink?.audioMode,
      ...(this.sink && this.source?.audio ? { webrtcAudio: this.sink.webrtcAudio, audioHoldMs: this.sink.audioHoldMs(), audioLeadMs: this.sink.audioLeadMs() } : {}),
      ...(this.push ? { push: this.push.state } : {}),
      ...(this.sink?.recordingState ? { recording: this.sink.recordingState } : {}),
      interpolator: this.interpolator,
      framesIn: s?.framesIn ?? 0,
      framesOut: s?.framesOut ?? 0,
      interpolated: s?.interpolated ?? 0,
      fallbacks: s?.fallbacks ?? 0,
      fallbackFrames: (s?.fallbackFrames ?? []).map((f) => ({ ...f })),
      lateFrames: s?.late ?? 0,
      repeated: s?.repeated ?? 0,
      ringDrops: this.ringDrops,
      decodeErrors: this.source?.decodeErrors ?? 0,
      viewers: this.viewers.size,
      originalViewers: this.originalViewers.size,
      ...(final ? {} : { latencyMs: this.timings.medianOriginalLatencyMs(now) }),
      ...(this.deadlineMs !== undefined ? { deadlineMs: round(this.deadlineMs) } : {}),
      ...(this.semantic ? { sceneCuts: this.semantic.cuts } : {}),
    };
  }

  /** Stats and timing histograms, for `/metrics`. */
  metrics(): LiveStreamMetrics {
    return { stats: this.stats(), timings: this.timings.snapshot() };
  }

  /**
   * Ends the stream as if the publisher had left: drops the publisher, lets
   * the frames in flight through and finishes the playlist. Resolves with `done`.
   */
  stop(): Promise<void> {
    this.stopping = true;
    this.source?.close();
    // Before the source exists (still probing), aborting the input ends the probe.
    this.options.input.abort();
    return this.done;
  }

  /** Stops the stream and deletes its HLS directory. */
  async close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private setState(state: LiveStreamState): void {
    if (this.currentState === state || this.finished) return;
    this.currentState = state;
    if (this.finished) for (const viewer of [...this.viewers, ...this.originalViewers]) viewer.close(`stream ${state}`);
    this.emit('state', state);
  }

  private async run(): Promise<void> {
    let synthesizer: Synthesizer | undefined;
    let fallback: Synthesizer | undefined;
    let fastStandIn: Synthesizer | undefined;
    try {
      // The push connects while the input is probed, so it is usually ready before the first frame.
      if (this.options.push) this.push = RtmpPush.connect({ url: this.options.push, name: `stream '${this.key}'`, logger: this.logger });
      this.source = await this.options.input.open();
      if (this.options.semantic) this.semantic = await SemanticStage.create(this.options);
      const engine = { ...this.options, threads: interpolatorThreads(this.semantic !== undefined, this.options.threads) };
      synthesizer = await createSynthesizer(engine, this.semantic);
      if (this.options.wrapSynthesizer) synthesizer = this.options.wrapSynthesizer(synthesizer, this.key);
      // As in convert: a model failing mid-stream hands its slots to blend.
      fallback = resolveKind(this.options) === 'model' || this.options.wrapSynthesizer ? new BlendSynthesizer() : undefined;
      if (this.options.deadline !== false) {
        fastStandIn = await createFastFallback(engine).catch((err) => {
          this.logger.warn(`stream '${this.key}': late slots go to blend: the fast stand-in did not load: ${err instanceof Error ? err.message : err}`);
          return undefined;
        });
      }
      this.interpolator = synthesizer.name;
      const factor = this.options.factor ?? 2;
      const rate = this.source.frameRate;
      this.sink = await LiveEgress.open({
        dir: this.dir,
        fps: (rate ? rate.num / rate.den : 30) * factor,
        ...(this.options.encoderPreset ? { preset: this.options.encoderPreset } : {}),
        ...(this.options.videoBitrateKbps !== undefined ? { bitrateKbps: this.options.videoBitrateKbps } : {}),
        frameRate: rate ? { num: rate.num * factor, den: rate.den } : undefined,
        audio: this.source.audio,
        push: this.push,
        ...(this.options.record !== undefined ? { record: this.options.record } : {}),
        onRecordingFailed: (error) => this.logger.warn(`stream '${this.key}': the recording failed, the stream goes on without it: ${error}`),
        rtp: this.fanout,
        rtpAudio: this.audioFanout,
      });
      await this.pipeline(this.source, this.sink, synthesizer, fallback, fastStandIn, factor);
      await this.sink.close();
      this.setState('ended');
    } catch (err) {
      if (this.stopping && this.currentState === 'starting') {
        // Stopped (or the publisher left) before anything was produced: nothing failed.
        this.setState('ended');
      } else {
        this.error = err instanceof Error ? err.message : String(err);
        this.logger.warn(`stream '${this.key}' failed: ${this.error}`);
        this.setState('failed');
      }
      await this.sink?.close().catch(() => {});
    } finally {
      this.options.input.abort();
      await Promise.resolve(this.source?.[Symbol.asyncDispose]()).catch(() => {});
      await synthesizer?.close().catch(() => {});
      await fallback?.close().catch(() => {});
      await fastStandIn?.close().catch(() => {});
      await this.semantic?.close().catch(() => {});
      // Only needed when the stream stopped before the egress took the push over.
      await this.push?.close();
      this.normalizer?.[Symbol.dispose]();
    }
  }

  /** The publisher's frame, as it came, to the viewers of the original. */
  private relayOriginal(item: EncodedItem, source: LiveSource): void {
    if (this.originalFanout.count === 0) return;
    if (item.codec === 'VP8') {
      this.originalFanout.writeVp8(item.data, item.timestamp, item.keyframe);
      return;
    }
    // RTMP's H.264 keeps SPS and PPS in its header; WebRTC publishers send them in band.
    if (this.parameterSets.length === 0) this.parameterSets = source.parameterSets?.() ?? [];
    this.originalFanout.writeH264(item.data, item.timestamp, item.keyframe, this.parameterSets);
  }

  private async pipeline(source: LiveSource, sink: LiveEgress, synthesizer: Synthesizer, fallback: Synthesizer | undefined, fastStandIn: Synthesizer | undefined, factor: number): Promise<void> {
    const normalizer = (this.normalizer = new FrameNormalizer());
    // With an announced rate, timestamps are snapped to its grid (see RateGrid); without one they are used as they come.
    const grid = source.frameRate ? new RateGrid(source.video.timeBase, source.frameRate) : undefined;
    const inputTimeBase = grid?.timeBase ?? source.video.timeBase;
    // The deadline ladder: the chosen synthesizer, then `fast` (behind a slower model), then blend (unless it is blend), then dup (free).
    const standIns =
      this.options.deadline === false || synthesizer.name === 'dup' ? undefined : [...(fastStandIn ? [fastStandIn] : []), ...(fallback ? [fallback] : []), new DupSynthesizer()];
    const rate = source.frameRate;
    // Without an announced rate (WebRTC) each gap's own length is the unit of its budget.
    this.deadlineMs = standIns ? (this.options.deadlineMs ?? (rate ? (LIVE_BUDGET_INTERVALS * 1000 * rate.den) / rate.num : undefined)) : undefined;
    using upconverter = new Upconverter({
      synthesizer,
      fallback,
      inputTimeBase,
      target: { factor },
      now: this.now,
      ...(standIns ? { deadline: { fallbacks: standIns, budgetMs: this.deadlineMs, budgetGaps: LIVE_BUDGET_INTERVALS } } : {}),
    });
    this.engineStats = upconverter.stats;
    const decoded = new RingBuffer<NormalizedFrame & { timing: FrameTiming }>({
      capacity: this.options.bufferFrames ?? 8,
      policy: 'drop-oldest',
      onDrop: (item) => item.frame.free(),
    });
    const rendered = new RingBuffer<RenderedFrame>({ capacity: 4, policy: 'wait', onDrop: (r) => r.frame.free() });
    // The semantic stage sits after the dropping ring, so it compares the frames the engine will see.
    const semantic = this.semantic;
    const analysed = semantic ? new RingBuffer<NormalizedFrame & { timing: FrameTiming }>({ capacity: 2, policy: 'wait', onDrop: (item) => item.frame.free() }) : decoded;
    const { num, den } = source.video.timeBase;
    // A publisher's timestamps that jump or reset are folded back into one timeline (see TimelineRepair).
    const timeline = new TimelineRepair(source.video.timeBase);
    const rtpTime = (pts: bigint) => (pts === NO_PTS ? undefined : Number(((pts * 90000n * BigInt(num)) / BigInt(den)) & 0xffffffffn));

    const limit = this.options.maxBitrateKbps;
    const bitrate = limit !== undefined ? new BitrateGuard(limit * 1000, this.now()) : undefined;
    const decode = async (): Promise<void> => {
      for await (const item of source.read()) {
        const over = bitrate?.check(source.mediaBytes, this.now());
        if (over !== undefined) {
          if (item.kind === 'video') item.frame.free();
          if (item.kind === 'audio') item.packet.free();
          throw new Error(`the publisher sends ${(over / 1e6).toFixed(1)} Mbit/s (5 s average), over this stream's limit of ${formatKbps(limit!)}`);
        }
        if (item.kind === 'encoded') {
          // Keyed as the decoded frame will be looked up: its pts on the 90 kHz clock.
          this.arrivals.note(item.pts !== undefined ? (rtpTime(item.pts) ?? item.timestamp) : item.timestamp, this.now());
          this.relayOriginal(item, source);
          continue;
        }
        if (item.kind === 'audio') {
          try {
            await sink.writeAudio(item.packet);
          } finally {
            item.packet.free();
          }
          continue;
        }
        const { width, height } = item.frame;
        if (width > (this.options.maxWidth ?? Infinity) || height > (this.options.maxHeight ?? Infinity)) {
          // Checked on every frame: a publisher may change resolution mid-stream.
          item.frame.free();
          throw new Error(`the video is ${width}x${height}, over this server's limit of ${this.options.maxWidth ?? '∞'}x${this.options.maxHeight ?? '∞'}`);
        }
        const arrival = this.arrivals.take(rtpTime(item.frame.pts));
        let jumped = false;
        if (item.frame.pts !== NO_PTS) ({ pts: item.frame.pts, jumped } = timeline.repair(item.frame.pts));
        if (grid) onGrid(item.frame, grid);
        const normalized = await normalizer.normalize(item.frame);
        normalized.discontinuity ||= jumped;
        if (decoded.isClosed) {
          normalized.frame.free();
          break;
        }
        const now = this.now();
        this.inputRate.tick(now);
        // Sources without an encoded form (the test pattern) arrive decoded.
        await decoded.push({ ...normalized, timing: { arrival: arrival !== undefined && arrival <= now ? arrival : now, decoded: now } });
        this.ringDrops = decoded.dropped;
      }
    };
    const features = async (): Promise<void> => {
      for await (const item of decoded) {
        const verdict = await semantic!.analyse(item.frame, item.timing, this.now);
        await analysed.push({ ...item, discontinuity: item.discontinuity || verdict.cut });
      }
    };
    const interpolate = async (): Promise<void> => {
      for await (const { frame, discontinuity, timing } of analysed) {
        await pushAll(rendered, await upconverter.pushTimed(frame, discontinuity, timing));
      }
      await pushAll(rendered, upconverter.finishTimed());
    };
    const encode = async (): Promise<void> => {
      for await (const output of rendered) {
        const { frame } = output;
        const time = seconds(frame.pts, upconverter.outputTimeBase);
        let times: Awaited<ReturnType<LiveEgress['writeVideo']>>;
        try {
          times = await sink.writeVideo(frame, time);
        } finally {
          frame.free();
        }
        this.timings.record({ original: output.kind === 'original', synthesized: output.kind === 'interpolated' || output.kind === 'fallback', timing: { ...output.timing, ...times } });
        this.outputRate.tick(this.now());
        this.setState('live');
      }
    };

    try {
      await runStages([
        { run: decode, output: decoded },
        ...(semantic ? [{ run: features, output: analysed }] : []),
        { run: interpolate, output: rendered },
        { run: encode },
      ]);
    } finally {
      this.ringDrops = decoded.dropped;
      // The stats must outlive the upconverter, which is disposed on return.
      this.engineStats = { ...upconverter.stats, fallbackFrames: upconverter.stats.fallbackFrames.map((f) => ({ ...f })) };
    }
  }
}

/** Restamps a frame in the grid's time base; its duration is left to the engine (the gap to the next frame). */
function onGrid(frame: Frame, grid: RateGrid): void {
  if (frame.pts === NO_PTS) return;
  frame.pts = grid.snap(frame.pts);
  frame.duration = 0n;
  frame.timeBase = grid.timeBase as Frame['timeBase'];
}

const NO_PTS = -0x8000000000000000n;

/** A timestamp in seconds (exact enough to match an input frame with its pass-through output: both come from the same integer ticks). */
function seconds(pts: bigint, timeBase: { num: number; den: number }): number {
  return (Number(pts) * timeBase.num) / timeBase.den;
}

/** A kbit/s limit as people say it: `800 kbit/s`, `6 Mbit/s`. */
function formatKbps(kbps: number): string {
  return kbps >= 1000 ? `${kbps / 1000} Mbit/s` : `${kbps} kbit/s`;
}

/** Rates to one decimal: more digits would only show measurement noise. */
function round(value: number): number {
  return Math.round(value * 10) / 10;
}
