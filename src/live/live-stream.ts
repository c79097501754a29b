import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { releaseFreedHeap } from '../engine/runtime/heap-release.js';
import type { EncodedItem, LiveSource } from '../ingest/live-source.js';
import { FramePipeline, type FramePipelineOptions } from '../pipeline/frame-pipeline.js';
import { AudioFanout } from '../protocols/webrtc/audio-fanout.js';
import { VideoFanout } from '../protocols/webrtc/video-fanout.js';
import type { WhepViewer } from '../protocols/webrtc/whep-viewer.js';
import { RtmpPush } from '../protocols/rtmp/rtmp-push.js';
import { LiveAdmission } from './live-admission.js';
import { LiveEgress } from './live-egress.js';
import { FrameKindRing, frameBadge } from './frame-kind-ring.js';
import { OriginalEncoder } from './original-encoder.js';
import type { LiveStreamEvents, LiveStreamMetrics, LiveStreamOptions, LiveStreamState, LiveStreamStats, StreamEgress } from './live-stream-types.js';
import { RateMeter } from './rate-meter.js';
import { StreamTimings } from './stream-timings.js';

export type { LiveStreamEvents, LiveStreamMetrics, LiveStreamOptions, LiveStreamState, LiveStreamStats, StreamEgress } from './live-stream-types.js';

const quietLogger: Logger = { info: () => {}, warn: () => {} };

/**
 * The default deadline of a live gap's slots, in input frame intervals after
 * the arrival of the frame that closes it. One interval is the least that
 * keeps up; the half on top lets a slow model run borrow from the next
 * interval instead of handing the slot to blend, for more slots by the
 * model at some added latency (bench/RESULTS.md, "Live deadline budget").
 */
export const LIVE_BUDGET_INTERVALS = 1.5;

const DEFAULT_START_TIMEOUT_MS = 15_000;

/**
 * One published stream, live: the publisher's video in, upconverted out to
 * HLS (and, with `push`, the same encoded output to another RTMP server; a
 * recording; WebRTC viewers).
 *
 *   input (FLV or WebRTC) → LiveAdmission → FramePipeline (first ring drops the oldest) → egress
 *
 * The frame pipeline is `convert`'s, with one difference: a live source
 * cannot be made to wait, so when the engine (or the encoder behind it)
 * falls behind, the first ring drops its oldest decoded frame and counts it
 * rather than letting latency grow without bound. The engine then
 * interpolates across the wider gap. Audio goes straight to the egress.
 *
 * The stream owns its input, pipeline, egress and viewers, and closes them
 * when it ends. Nothing a stream does throws out of it: every failure ends in
 * state `failed` with the reason in the stats, so a bad publisher never takes
 * others (or the server) down.
 */
export class LiveStream extends EventEmitter<LiveStreamEvents> implements AsyncDisposable {
  readonly key: string;
  readonly dir: string;
  /** Settles (never rejects) once the pipeline has stopped and the playlist is final. */
  readonly done: Promise<void>;
  /** The stream's logger: its parts (viewers, push) log through it too. */
  readonly logger: Logger;
  /** Every output frame's timing record, as it leaves. */
  readonly timings = new StreamTimings();
  /** The last 10 s or so of output frames, badged, for the page's frame inspector. */
  readonly frameKinds = new FrameKindRing();
  private currentState: LiveStreamState = 'starting';
  private error?: string;
  private readonly startedAt = new Date();
  private readonly now: () => number;
  private readonly inputRate = new RateMeter();
  private readonly outputRate = new RateMeter();
  private source?: LiveSource;
  private pipeline?: FramePipeline;
  private admission?: LiveAdmission;
  private egress?: StreamEgress;
  private push?: RtmpPush;
  private readonly fanout: VideoFanout;
  private readonly audioFanout = new AudioFanout();
  private readonly viewers = new Set<WhepViewer>();
  /**
   * The original to its viewers: the publisher's video as it came when
   * WebRTC takes its codec (keyframes come when the publisher sends them;
   * WHIP: asked for), else the input frames encoded by `originalEncoder`.
   */
  private readonly originalFanout: VideoFanout;
  /** Encodes the original for WebRTC when its codec cannot be relayed; runs only while it has viewers. */
  private originalEncoder?: OriginalEncoder;
  private readonly originalViewers = new Set<WhepViewer>();
  private parameterSets: Buffer[] = [];
  private stopping = false;
  private closed = false;
  /** Runs while the stream waits for the publisher's first video (see `startTimeoutMs`). */
  private startTimer?: NodeJS.Timeout;
  /** Why the stream gave up on its publisher before any video, when it did. */
  private startFailure?: string;

  constructor(private readonly options: LiveStreamOptions) {
    super();
    this.key = options.key;
    this.dir = options.dir;
    this.now = options.now ?? (() => performance.now());
    this.logger = options.logger ?? quietLogger;
    this.fanout = new VideoFanout({ onKeyframeNeeded: () => this.egress?.requestKeyframe() });
    this.originalFanout = new VideoFanout({ onKeyframeNeeded: () => this.requestOriginalKeyframe() });
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
    this.own(viewer, this.viewers, this.fanout);
  }

  /**
   * Adds a viewer of the original, without upconverting: the publisher's
   * encoded video relayed as it came, or, for a codec WebRTC cannot take,
   * the input encoded once as H.264 for all such viewers (its codec must be
   * `originalCodec`). Owned as `addViewer`'s are.
   */
  addOriginalViewer(viewer: WhepViewer): void {
    if (!this.finished && !this.relayedCodec && this.originalEncoder && !this.originalEncoder.usable) {
      viewer.close(`the original is unavailable: its encoder ${this.originalEncoder.state}`);
      return;
    }
    this.own(viewer, this.originalViewers, this.originalFanout);
  }

  /** What a viewer of the original must take, once known: the publisher's codec when it is relayed, H.264 when encoded (none once that encoder failed). */
  get originalCodec(): 'H264' | 'VP8' | undefined {
    const relayed = this.relayedCodec;
    if (relayed) return relayed;
    return this.originalEncoder?.usable ? 'H264' : undefined;
  }

  /** A viewer of the original needs a keyframe (joined, or lost track): the original's encoder makes one, a WHIP publisher is asked; RTMP's come every GOP. */
  requestOriginalKeyframe(): void {
    if (this.relayedCodec) this.source?.requestKeyframe?.();
    else this.originalEncoder?.requestKeyframe();
  }

  /** The publisher's codec, as WebRTC names it, when WebRTC takes it as it is (a pulled source's may change as it reconnects). */
  private get relayedCodec(): 'H264' | 'VP8' | undefined {
    const codec = this.source?.videoCodec;
    return codec === 'h264' ? 'H264' : codec === 'vp8' ? 'VP8' : undefined;
  }

  /** A viewer needs a keyframe (it joined, or its decoder lost track). */
  requestKeyframe(): void {
    this.egress?.requestKeyframe();
  }

  stats(): LiveStreamStats {
    const now = this.now();
    const pipeline = this.pipeline;
    const s = pipeline?.stats;
    const geometry = pipeline?.geometry;
    const egress = this.egress;
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
      ...(this.admission ? { timestamps: this.admission.timestamps } : {}),
      audio: egress?.audioMode,
      ...(egress && this.source?.audio ? { webrtcAudio: egress.webrtcAudio, audioHoldMs: egress.audioHoldMs(), audioLeadMs: egress.audioLeadMs() } : {}),
      ...(this.push ? { push: this.push.state } : {}),
      ...(this.options.input.pullState ? { pull: this.options.input.pullState() } : {}),
      ...(egress?.recordingState ? { recording: egress.recordingState } : {}),
      ...(egress?.encoderPreset ? { encoderPreset: egress.encoderPreset.preset, encoderPresetReason: egress.encoderPreset.reason } : {}),
      interpolator: pipeline?.interpolator,
      framesIn: s?.framesIn ?? 0,
      framesOut: s?.framesOut ?? 0,
      interpolated: s?.interpolated ?? 0,
      fallbacks: s?.fallbacks ?? 0,
      fallbackFrames: (s?.fallbackFrames ?? []).map((f) => ({ ...f })),
      rungFrames: (s?.rungFrames ?? []).map((r) => ({ ...r })),
      warmUpMs: round(s?.warmUpMs ?? 0),
      lateFrames: s?.late ?? 0,
      repeated: s?.repeated ?? 0,
      ringDrops: pipeline?.ringDrops ?? 0,
      decodeErrors: this.source?.decodeErrors ?? 0,
      viewers: this.viewers.size,
      originalViewers: this.originalViewers.size,
      ...(this.relayedCodec ? { original: 'relayed' as const } : {}),
      ...(this.originalEncoder && !this.relayedCodec
        ? { original: 'encoded' as const, originalEncoder: this.originalEncoder.state, originalFramesEncoded: this.originalEncoder.framesEncoded }
        : {}),
      ...(final ? {} : { latencyMs: this.timings.medianOriginalLatencyMs(now) }),
      ...(pipeline?.deadlineMs !== undefined ? { deadlineMs: round(pipeline.deadlineMs) } : {}),
      ...(pipeline?.engine.semantic ? { sceneCuts: pipeline.engine.semantic.cuts } : {}),
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

  /** `close()`: the stream's owner (the server) disposes it when it retires the stream. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private own(viewer: WhepViewer, viewers: Set<WhepViewer>, fanout: VideoFanout): void {
    if (this.finished) {
      viewer.close('stream ended');
      return;
    }
    viewers.add(viewer);
    fanout.add(viewer);
    this.audioFanout.add(viewer);
    viewer.on('end', () => {
      viewers.delete(viewer);
      fanout.remove(viewer.id);
      this.audioFanout.remove(viewer.id);
      // Encoding the original costs CPU the engine needs: only while someone watches it.
      if (fanout === this.originalFanout && fanout.count === 0) this.originalEncoder?.idle();
    });
  }

  private setState(state: LiveStreamState): void {
    if (this.currentState === state || this.finished) return;
    this.currentState = state;
    if (this.finished) for (const viewer of [...this.viewers, ...this.originalViewers]) viewer.close(`stream ${state}`);
    this.emit('state', state);
  }

  private async run(): Promise<void> {
    const { options } = this;
    try {
      // The push connects while the input is probed, so it is usually ready before the first frame.
      if (options.push) this.push = RtmpPush.connect({ url: options.push, name: `stream '${this.key}'`, logger: this.logger });
      this.awaitFirstVideo(true);
      const source = (this.source = await options.input.open());
      // Loading the engine is the server's time, not the publisher's.
      this.awaitFirstVideo(false);
      const admission = (this.admission = new LiveAdmission(source, options, this.now, (reason) =>
        this.logger.warn(`stream '${this.key}': the publisher's timestamps are unusable (${reason}): its frames and audio are stamped with their arrival from here`),
      ));
      // Made for every stream (it holds nothing native until a viewer comes): a pulled source that
      // reconnects in another codec moves between relaying and encoding its original.
      this.originalEncoder = this.openOriginalEncoder(source, admission);
      const pipeline = (this.pipeline = await FramePipeline.create(this.pipelineOptions(source, admission)));
      const factor = options.factor ?? 2;
      const rate = source.frameRate;
      const egress = (this.egress = await (options.openEgress ?? LiveEgress.open)({
        dir: this.dir,
        fps: (rate ? rate.num / rate.den : 30) * factor,
        ...(options.encoderPreset ? { preset: options.encoderPreset } : {}),
        ...(options.videoBitrateKbps !== undefined ? { bitrateKbps: options.videoBitrateKbps } : {}),
        frameRate: rate ? { num: rate.num * factor, den: rate.den } : undefined,
        audio: source.audio,
        push: this.push,
        ...(options.record !== undefined ? { record: options.record } : {}),
        onRecordingFailed: (error) => this.logger.warn(`stream '${this.key}': the recording failed, the stream goes on without it: ${error}`),
        rtp: this.fanout,
        rtpAudio: this.audioFanout,
      }));
      this.awaitFirstVideo(true);
      await pipeline.run(admission.items(source, (item) => this.relayOriginal(item, source)), egress);
      if (this.startFailure !== undefined) throw new Error(this.startFailure);
      await egress.close();
      this.setState('ended');
    } catch (err) {
      if (this.stopping && this.currentState === 'starting' && this.startFailure === undefined) {
        // Stopped (or the publisher left) before anything was produced: nothing failed.
        this.setState('ended');
      } else {
        this.error = this.startFailure ?? errorMessage(err);
        this.logger.warn(`stream '${this.key}' failed: ${this.error}`);
        this.setState('failed');
      }
      // The stream has already failed with its reason; an egress that also fails to close adds nothing.
      await this.egress?.close().catch(() => {});
    } finally {
      this.awaitFirstVideo(false);
      this.options.input.abort();
      // Teardown of a finished stream: its state says how it ended, and nobody waits for more.
      await Promise.resolve(this.source?.[Symbol.asyncDispose]()).catch(() => {});
      await this.pipeline?.[Symbol.asyncDispose]().catch(() => {});
      await this.originalEncoder?.close();
      // Only needed when the stream stopped before the egress took the push over.
      await this.push?.close();
      // What the stream's threads freed stays with the process otherwise (RSS grew with each publish; issue #28).
      void releaseFreedHeap();
    }
  }

  /** The frame pipeline of a live stream: it drops rather than waits, and its deadlines hand late slots to cheaper fallbacks. */
  private pipelineOptions(source: LiveSource, admission: LiveAdmission): FramePipelineOptions {
    const { options } = this;
    const rate = source.frameRate;
    const wrap = options.wrapSynthesizer;
    return {
      engine: {
        ...options,
        ...(wrap ? { wrap: (synthesizer) => wrap(synthesizer, this.key) } : {}),
        deadlineFallbacks: options.deadline !== false,
        onFastFallbackFailed: (err) => this.logger.warn(`stream '${this.key}': late slots go to blend: the fast fallback did not load: ${errorMessage(err)}`),
        onProviderFailover: (err) => this.logger.warn(`stream '${this.key}': the model failed on its provider; its slots go to the model on the CPU (counted as its /cpu rung), blend while that loads: ${errorMessage(err)}`),
      },
      inputTimeBase: admission.timeBase,
      target: { factor: options.factor ?? 2 },
      inputPolicy: 'drop-oldest',
      bufferFrames: options.bufferFrames ?? 8,
      clock: 'arrival',
      // Without an announced rate (WebRTC) each gap's own length is the unit of its budget.
      ...(options.deadline !== false
        ? { deadline: { budgetMs: options.deadlineMs ?? (rate ? (LIVE_BUDGET_INTERVALS * 1000 * rate.den) / rate.num : undefined), budgetGaps: LIVE_BUDGET_INTERVALS } }
        : {}),
      now: this.now,
      admit: (frame) => admission.admit(frame),
      onInputFrame: (frame) => {
        if (!this.relayedCodec) this.originalEncoder?.offer(frame);
      },
      onDecoded: (timing) => {
        this.inputRate.tick(timing.decoded!);
        if (this.startTimer) this.awaitFirstVideo(false);
      },
      onSent: ({ kind, synthesizer, time, timing }) => {
        this.timings.record({ original: kind === 'original', synthesized: kind === 'interpolated' || kind === 'fallback', timing });
        const rtp = this.egress?.rtpTimestamp?.(time);
        this.frameKinds.record({ time, ...(rtp !== undefined ? { rtp } : {}), badge: frameBadge(kind, synthesizer), ...(synthesizer !== undefined ? { rung: synthesizer } : {}) });
        this.outputRate.tick(this.now());
        this.setState('live');
      },
    };
  }

  /** The encoder of the original, for while the source's codec is one WebRTC cannot take as it is; its failure ends only the original. */
  private openOriginalEncoder(source: LiveSource, admission: LiveAdmission): OriginalEncoder {
    const rate = source.frameRate;
    return new OriginalEncoder({
      fanout: this.originalFanout,
      fps: rate ? rate.num / rate.den : 30,
      factor: this.options.factor ?? 2,
      ...(this.options.videoBitrateKbps !== undefined ? { bitrateKbps: this.options.videoBitrateKbps } : {}),
      ...(rate ? { frameRate: rate } : {}),
      timeBase: admission.timeBase,
      onFailed: (error) => {
        this.logger.warn(`stream '${this.key}': the original's encoder failed, the original is unavailable (the stream goes on): ${error}`);
        for (const viewer of [...this.originalViewers]) viewer.close('the original encoder failed');
      },
    });
  }

  /**
   * Starts (`true`) or stops the start-up timer: past `startTimeoutMs` with
   * no video frame, the publisher is dropped and the stream fails. A
   * publisher that sent only acknowledgements, or only audio, held its
   * stream slot for good before (issue #28).
   */
  private awaitFirstVideo(waiting: boolean): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    // A pulled source retries by itself (its `pull` state says how it goes); waiting on it is not a publisher stalling.
    if (!waiting || this.options.input.pullState) return;
    const ms = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.startTimer = setTimeout(() => {
      if (this.currentState !== 'starting' || this.stopping) return;
      this.startFailure = `no video from the publisher within ${ms / 1000} s of publishing: dropped`;
      this.source?.close();
      this.options.input.abort();
    }, ms);
    this.startTimer.unref();
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
}

/** Rates to one decimal: more digits would only show measurement noise. */
function round(value: number): number {
  return Math.round(value * 10) / 10;
}
