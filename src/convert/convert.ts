import { rmSync } from 'node:fs';
import { FileSink } from '../egress/file-sink.js';
import { resolveKind, type InterpolatorChoice } from '../engine/model/model-choice.js';
import { createSynthesizer } from '../engine/synthesis/create-synthesizer.js';
import { BlendSynthesizer, type Synthesizer } from '../engine/synthesis/synthesis.js';
import type { RateTarget } from '../engine/timing/slot-planner.js';
import { type RenderedFrame, Upconverter, type UpconverterStats } from '../engine/upconverter.js';
import { type FrameTiming, type Stage, STAGES, stageMs } from '../engine/timing/frame-timing.js';
import { FileSource } from '../ingest/file-source.js';
import { InputError } from '../base/errors.js';
import { FrameNormalizer, type NormalizedFrame } from '../ingest/frame-normalizer.js';
import { RingBuffer } from '../base/ring-buffer.js';
import { pushAll, runStages } from '../pipeline/stages.js';
import { interpolatorThreads, type SemanticChoice, SemanticStage } from '../engine/semantic/semantic-stage.js';

export interface ConvertOptions extends InterpolatorChoice, SemanticChoice {
  input: string;
  /** Forces the input format (`lavfi` for the built-in test source). */
  inputFormat?: string;
  output: string;
  target: RateTarget;
  /** Decoded frames buffered ahead of the engine. */
  bufferFrames?: number;
  onProgress?: (progress: ConvertProgress) => void;
  /** Every output frame as it is written: how it was made and its timing record (decode, interpolate, encode). */
  onFrame?: (frame: { kind: RenderedFrame['kind']; timing: FrameTiming }) => void;
}

/** Median and 95th percentile of one stage's time per frame (ms). */
export interface StageFigures {
  p50: number;
  p95: number;
}

export interface ConvertProgress {
  stats: Readonly<UpconverterStats>;
  /** Input frames expected in total, when the container says. */
  expectedFrames?: number;
  elapsedSeconds: number;
}

export interface ConvertSummary extends UpconverterStats {
  interpolator: string;
  /** Problems with the input that did not stop the job (damaged or truncated data). */
  warnings: string[];
  decodeErrors: number;
  audio: 'copy' | 'encode' | 'none';
  wallSeconds: number;
  /** Output frames written per second of wall time. */
  fps: number;
  width: number;
  height: number;
  /** Decoded input frames per second of wall time. */
  inputFps: number;
  /** Time per frame in each stage: decode (and features) per input frame, interpolate per synthesized frame, encode per output frame. */
  stages: Record<Stage, StageFigures>;
  /** Scene cuts the semantic stage found (each one's gap was filled by repeating the nearer frame), when it ran. */
  sceneCuts?: number;
}

/**
 * `frc convert`: file or URL in, file out at the target rate. The buffers
 * between stages make the faster side wait (a file must lose no frame);
 * audio goes straight to the muxer.
 */
export async function convert(options: ConvertOptions): Promise<ConvertSummary> {
  const started = performance.now();
  await using source = await FileSource.open(options.input, { format: options.inputFormat });
  const semantic = options.semantic ? await SemanticStage.create(options) : undefined;
  const engine = { ...options, threads: interpolatorThreads(semantic !== undefined, options.threads) };
  let synthesizer: Synthesizer | undefined;
  let fallback: Synthesizer | undefined;
  let sink: FileSink | undefined;
  try {
    synthesizer = await createSynthesizer(engine, semantic);
    // A model that fails mid-stream hands its slots to blend instead of ending the job.
    fallback = resolveKind(options) === 'model' ? new BlendSynthesizer() : undefined;
    sink = await FileSink.open({ path: options.output, audio: source.audio });
    const stats = await run(source, sink, synthesizer, fallback, semantic, options, started);
    await sink.close();
    const wallSeconds = (performance.now() - started) / 1000;
    const warnings = [source.truncationWarning()].filter((w): w is string => w !== undefined);
    if (source.decodeErrors) warnings.push(`${source.decodeErrors} damaged video packets could not be decoded; their frames are missing`);
    return {
      ...stats.stats,
      interpolator: synthesizer.name,
      warnings,
      decodeErrors: source.decodeErrors,
      audio: sink.audioMode,
      wallSeconds,
      fps: stats.stats.framesOut / wallSeconds,
      inputFps: stats.stats.framesIn / wallSeconds,
      width: stats.width,
      height: stats.height,
      stages: stats.stages,
      ...(semantic ? { sceneCuts: semantic.cuts } : {}),
    };
  } catch (err) {
    // A half-written file would pass for a result: remove it.
    await sink?.close().catch(() => {});
    try {
      rmSync(options.output, { force: true });
    } catch {
      // nothing was written there
    }
    throw err;
  } finally {
    await synthesizer?.close();
    await fallback?.close();
    await semantic?.close();
  }
}

async function run(
  source: FileSource,
  sink: FileSink,
  synthesizer: Synthesizer,
  fallback: Synthesizer | undefined,
  semantic: SemanticStage | undefined,
  options: ConvertOptions,
  started: number,
): Promise<{ stats: UpconverterStats; width: number; height: number; stages: Record<Stage, StageFigures> }> {
  using normalizer = new FrameNormalizer();
  using upconverter = new Upconverter({
    synthesizer,
    fallback,
    inputTimeBase: source.video.timeBase,
    target: options.target,
  });
  // Three stages run concurrently, joined by bounded buffers that make the
  // faster side wait: decode → engine → encode. Decoding, inference and
  // encoding all run on native threads, so on two cores they overlap.
  const decoded = new RingBuffer<NormalizedFrame & { timing: FrameTiming }>({ capacity: options.bufferFrames ?? 4, policy: 'wait', onDrop: (item) => item.frame.free() });
  const rendered = new RingBuffer<RenderedFrame>({ capacity: 4, policy: 'wait', onDrop: (r) => r.frame.free() });
  const expectedFrames = Number(source.video.nbFrames) || undefined;
  // With the semantic stage, a fourth stage sits between decode and engine: the features of frame N+1 are computed while the engine works on (N-1, N).
  const analysed = semantic ? new RingBuffer<NormalizedFrame & { timing: FrameTiming }>({ capacity: 2, policy: 'wait', onDrop: (item) => item.frame.free() }) : decoded;
  const times: Record<Stage, number[]> = { decode: [], features: [], interpolate: [], encode: [] };

  const decode = async (): Promise<void> => {
    // A file's frames "arrive" when the decoder is asked for them: its decode span starts there.
    let decodeStart = performance.now();
    for await (const item of source.read()) {
      if (decoded.isClosed) break;
      if (item.kind === 'audio') {
        await sink.writeAudio(item.packet);
        item.packet.free();
      } else {
        const normalized = await normalizer.normalize(item.frame);
        const timing = { arrival: decodeStart, decodeStart, decoded: performance.now() };
        times.decode.push(timing.decoded - decodeStart);
        await decoded.push({ ...normalized, timing });
      }
      decodeStart = performance.now();
    }
  };
  const features = async (): Promise<void> => {
    for await (const item of decoded) {
      const verdict = await semantic!.analyse(item.frame, item.timing);
      times.features.push(stageMs(item.timing, 'features')!);
      // At a cut the engine repeats the nearer frame rather than morph one scene into the other.
      await analysed.push({ ...item, discontinuity: item.discontinuity || verdict.cut });
    }
  };
  const interpolate = async (): Promise<void> => {
    for await (const { frame, discontinuity, timing } of analysed) {
      await pushAll(rendered, await upconverter.pushTimed(frame, discontinuity, timing));
      options.onProgress?.({ stats: upconverter.stats, expectedFrames, elapsedSeconds: (performance.now() - started) / 1000 });
    }
    await pushAll(rendered, upconverter.finishTimed());
  };
  const encode = async (): Promise<void> => {
    for await (const { frame, kind, timing } of rendered) {
      const encodeStart = performance.now();
      try {
        await sink.writeVideo(frame);
      } finally {
        frame.free();
      }
      const encoded = performance.now();
      const done = { ...timing, encodeStart, encoded, sent: encoded };
      // Pass-through frames take no engine time: only synthesized ones say what interpolating costs.
      if (kind === 'interpolated' || kind === 'fallback') times.interpolate.push(stageMs(done, 'interpolate')!);
      times.encode.push(encoded - encodeStart);
      options.onFrame?.({ kind, timing: done });
    }
  };

  await runStages([
    { run: decode, output: decoded },
    ...(semantic ? [{ run: features, output: analysed }] : []),
    { run: interpolate, output: rendered },
    { run: encode },
  ]);

  if (upconverter.stats.framesIn === 0) {
    throw new InputError(
      `no video frame could be decoded from ${source.url}` + (source.decodeErrors ? ` (${source.decodeErrors} damaged packets)` : ''),
    );
  }
  const geometry = normalizer.geometry!;
  const stages = Object.fromEntries(STAGES.map((stage) => [stage, figures(times[stage])])) as Record<Stage, StageFigures>;
  return { stats: upconverter.stats, width: geometry.width, height: geometry.height, stages };
}

function figures(values: number[]): StageFigures {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { p50: at(0.5), p95: at(0.95) };
}
