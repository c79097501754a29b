import type { Frame, Packet } from 'node-av/lib';
import type { Rational } from '../base/rational.js';
import { type FullPolicy, RingBuffer } from '../base/ring-buffer.js';
import type { FrameTiming } from '../engine/timing/frame-timing.js';
import type { RateTarget } from '../engine/timing/slot-planner.js';
import { type RenderedFrame, Upconverter, type UpconverterStats } from '../engine/upconverter.js';
import { FrameNormalizer, type Geometry, type NormalizedFrame } from '../ingest/frame-normalizer.js';
import type { SourceItem } from '../ingest/read-demuxed.js';
import { type EngineChoice, EngineParts } from './engine-parts.js';
import { pushAll, runStages } from './stages.js';

/** When the encoder took a frame and gave back its packets, and when those had reached every output (ms). */
export interface EncodeTimes {
  encodeStart: number;
  encoded: number;
  sent: number;
}

/** The end of the pipeline: an encoder and the outputs behind it (a file; HLS, WebRTC and RTMP). */
export interface FrameSink {
  /** Encodes one output frame, which stays the caller's. `time` is its media time in seconds. */
  writeVideo(frame: Frame, time: number): Promise<EncodeTimes>;
  /** Passes one audio packet on, which stays the caller's. */
  writeAudio(packet: Packet): Promise<void>;
}

/** What an input policy says of a decoded frame before it is normalized. */
export interface Admission {
  /** When the frame's encoded data came in, when known (`clock: 'arrival'`). */
  arrival?: number;
  /** Do not morph across the gap before this frame (its timeline jumped). */
  discontinuity: boolean;
}

/** An output frame as it left: how it was made and its complete timing record. */
export interface SentFrame {
  kind: RenderedFrame['kind'];
  /** The synthesizer that rendered an in-between frame. */
  synthesizer?: string;
  /** Its media time, seconds (the output pts). */
  time: number;
  timing: FrameTiming;
}

export interface FramePipelineOptions {
  engine: EngineChoice;
  /** The time base of the decoded frames' pts (after `admit`, which may restamp them). */
  inputTimeBase: Rational;
  target: RateTarget;
  /** When the engine falls behind: a file's decoder `wait`s, a live one `drop-oldest`s decoded frames (counted in `ringDrops`). */
  inputPolicy: FullPolicy;
  /** Decoded frames held ahead of the engine. */
  bufferFrames: number;
  /**
   * Where a frame's timing record starts: `decoder`, when the decoder was
   * asked for it (a file); `arrival`, when its data came in (`admit` says;
   * else when it was decoded).
   */
  clock: 'decoder' | 'arrival';
  /** Per-slot deadlines (live): the slots of a gap may take `budgetMs`, else `budgetGaps` times the gap, from its closing frame's arrival; a slot that would be late goes to a cheaper fallback. */
  deadline?: { budgetMs?: number; budgetGaps: number };
  /** Monotonic clock, ms (default `performance.now`). */
  now?: () => number;
  /**
   * Input policies: sees each decoded frame before anything else does, and
   * may restamp it (in place) or throw to fail the pipeline (the pipeline
   * then frees the frame, which stays its own throughout).
   */
  admit?: (frame: Frame) => Admission;
  /** An input frame was decoded and normalized; its record has `decoded`. */
  onDecoded?: (timing: FrameTiming) => void;
  /**
   * Sees each input frame as the engine will get it (admitted, normalized),
   * before it is queued: a live stream's original is encoded from these.
   * The frame stays the pipeline's; a listener that keeps it takes its own
   * reference (`clone()`).
   */
  onInputFrame?: (frame: Frame) => void;
  /** The semantic stage analysed an input frame; its record has `featuresStart`/`featuresEnd`. */
  onAnalysed?: (timing: FrameTiming) => void;
  /** The engine took an input frame. */
  onProgress?: (stats: Readonly<UpconverterStats>) => void;
  /** An output frame was sent. */
  onSent?: (frame: SentFrame) => void;
}

type Decoded = NormalizedFrame & { timing: FrameTiming };

/**
 * The one frame pipeline of `frc convert` and of every live stream:
 *
 *   source items → decode/normalize → [features] → upconvert → encode (sink)
 *
 * Each stage runs concurrently, joined to the next by a ring buffer; on two
 * cores decoding, inference and encoding (all on native threads) overlap. The
 * rings after the first always wait; the first one's policy is the caller's
 * (a file loses no frame, a live source never falls further behind). Audio
 * packets go straight to the sink. The pipeline owns its engine parts, the
 * normalizer and every frame inside it; disposing it frees them all.
 */
export class FramePipeline implements AsyncDisposable {
  private readonly now: () => number;
  private readonly normalizer = new FrameNormalizer();
  private readonly upconverter: Upconverter;
  private readonly decoded: RingBuffer<Decoded>;
  /** After the semantic stage, when it runs: it sits after the dropping ring, so it compares the frames the engine will see. */
  private readonly analysed: RingBuffer<Decoded>;
  private readonly rendered = new RingBuffer<RenderedFrame>({ capacity: 4, policy: 'wait', onDrop: (r) => r.frame.free() });
  /** The time the engine gives the slots of one input frame interval (ms), when deadlines are on and fixed. */
  readonly deadlineMs?: number;

  private constructor(
    readonly engine: EngineParts,
    private readonly options: FramePipelineOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    const fallbacks = options.deadline ? engine.deadlineFallbacks() : undefined;
    this.deadlineMs = fallbacks ? options.deadline?.budgetMs : undefined;
    this.upconverter = new Upconverter({
      synthesizer: engine.synthesizer,
      fallback: engine.fallback,
      ...(engine.still ? { still: engine.still } : {}),
      inputTimeBase: options.inputTimeBase,
      target: options.target,
      now: this.now,
      ...(fallbacks ? { deadline: { ...options.deadline, fallbacks } } : {}),
    });
    this.decoded = new RingBuffer<Decoded>({ capacity: options.bufferFrames, policy: options.inputPolicy, onDrop: (item) => item.frame.free() });
    this.analysed = engine.semantic ? new RingBuffer<Decoded>({ capacity: 2, policy: 'wait', onDrop: (item) => item.frame.free() }) : this.decoded;
  }

  /** Loads the engine (the slow part: a model) and sets the stages up. */
  static async create(options: FramePipelineOptions): Promise<FramePipeline> {
    const engine = await EngineParts.create(options.engine);
    try {
      return new FramePipeline(engine, options);
    } catch (error) {
      await engine[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The engine's counters; they stay readable after the run. */
  get stats(): Readonly<UpconverterStats> {
    return this.upconverter.stats;
  }

  /** The size and pixel format of the output, fixed by the first frame. */
  get geometry(): Geometry | undefined {
    return this.normalizer.geometry;
  }

  /** Decoded frames thrown away because the engine fell behind (`inputPolicy: 'drop-oldest'`). */
  get ringDrops(): number {
    return this.decoded.dropped;
  }

  /** The synthesizer's name (`fast`, `blend`, …). */
  get interpolator(): string {
    return this.engine.synthesizer.name;
  }

  /**
   * Runs the stages until `items` ends (the pipeline drains and finishes) or
   * a stage fails (every ring is cleared and the first real cause thrown).
   * The items' frames and packets are the pipeline's once read. Runs once.
   */
  async run(items: AsyncIterable<SourceItem>, sink: FrameSink): Promise<void> {
    const semantic = this.engine.semantic !== undefined;
    try {
      await runStages([
        { run: () => this.decode(items, sink), output: this.decoded },
        ...(semantic ? [{ run: () => this.features(), output: this.analysed }] : []),
        { run: () => this.upconvert(), output: this.rendered },
        { run: () => this.encode(sink) },
      ]);
    } finally {
      // Whatever frame the engine still holds (after a failure).
      this.upconverter[Symbol.dispose]();
    }
  }

  /** Frees every frame still inside and closes the engine parts. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const ring of [this.decoded, this.analysed, this.rendered]) ring.clear();
    this.upconverter[Symbol.dispose]();
    this.normalizer[Symbol.dispose]();
    await this.engine[Symbol.asyncDispose]();
  }

  private async decode(items: AsyncIterable<SourceItem>, sink: FrameSink): Promise<void> {
    // A file's frames "arrive" when the decoder is asked for them: its decode span starts there.
    let decodeStart = this.now();
    for await (const item of items) {
      if (this.decoded.isClosed) {
        // Stopping after another stage failed: nothing read from here on goes anywhere.
        (item.kind === 'audio' ? item.packet : item.frame).free();
        break;
      }
      if (item.kind === 'audio') {
        using packet = item.packet;
        await sink.writeAudio(packet);
      } else if (!(await this.decodeFrame(item.frame, decodeStart))) {
        break;
      }
      decodeStart = this.now();
    }
  }

  /** Admits, normalizes and queues one decoded frame (taking it over); false once the ring is closed (the pipeline is stopping). */
  private async decodeFrame(frame: Frame, decodeStart: number): Promise<boolean> {
    let admission: Admission = { discontinuity: false };
    try {
      if (this.options.admit) admission = this.options.admit(frame);
    } catch (error) {
      frame.free();
      throw error;
    }
    const normalized = await this.normalizer.normalize(frame);
    normalized.discontinuity ||= admission.discontinuity;
    if (this.decoded.isClosed) {
      normalized.frame.free();
      return false;
    }
    const now = this.now();
    const { arrival } = admission;
    const timing: FrameTiming =
      this.options.clock === 'decoder' ? { arrival: decodeStart, decodeStart, decoded: now } : { arrival: arrival !== undefined && arrival <= now ? arrival : now, decoded: now };
    this.options.onDecoded?.(timing);
    this.options.onInputFrame?.(normalized.frame);
    await this.decoded.push({ ...normalized, timing });
    return true;
  }

  private async features(): Promise<void> {
    const semantic = this.engine.semantic!;
    for await (const item of this.decoded) {
      const verdict = await semantic.analyse(item.frame, item.timing, this.now);
      this.options.onAnalysed?.(item.timing);
      // At a cut the engine repeats the nearer frame rather than morph one scene into the other.
      await this.analysed.push({ ...item, discontinuity: item.discontinuity || verdict.cut });
    }
  }

  private async upconvert(): Promise<void> {
    for await (const { frame, discontinuity, timing } of this.analysed) {
      await pushAll(this.rendered, await this.upconverter.pushTimed(frame, discontinuity, timing));
      this.options.onProgress?.(this.upconverter.stats);
    }
    await pushAll(this.rendered, this.upconverter.finishTimed());
  }

  private async encode(sink: FrameSink): Promise<void> {
    const { outputTimeBase } = this.upconverter;
    for await (const output of this.rendered) {
      using frame = output.frame;
      const time = seconds(frame.pts, outputTimeBase);
      const times = await sink.writeVideo(frame, time);
      this.options.onSent?.({ kind: output.kind, ...(output.synthesizer !== undefined ? { synthesizer: output.synthesizer } : {}), time, timing: { ...output.timing, ...times } });
    }
  }
}

/** A timestamp in seconds (exact enough to match an input frame with its pass-through output: both come from the same integer ticks). */
function seconds(pts: bigint, timeBase: Rational): number {
  return (Number(pts) * timeBase.num) / timeBase.den;
}
