import { rmSync } from 'node:fs';
import { errorMessage, InputError } from '../base/errors.js';
import { FileSink } from '../egress/file-sink.js';
import type { InterpolatorChoice } from '../engine/model/model-choice.js';
import type { SemanticChoice } from '../engine/semantic/semantic-stage.js';
import { type FrameTiming, type Stage, STAGES, stageMs } from '../engine/timing/frame-timing.js';
import type { RateTarget } from '../engine/timing/slot-planner.js';
import type { RenderedFrame, UpconverterStats } from '../engine/upconverter.js';
import { FileSource } from '../ingest/file-source.js';
import { type FrameSink, FramePipeline } from '../pipeline/frame-pipeline.js';

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
 * `frc convert`: file or URL in, file out at the target rate, through the
 * frame pipeline with every ring waiting (a file must lose no frame); audio
 * goes straight to the muxer.
 */
export async function convert(options: ConvertOptions): Promise<ConvertSummary> {
  const started = performance.now();
  await using source = await FileSource.open(options.input, { format: options.inputFormat });
  const times: Record<Stage, number[]> = { decode: [], features: [], interpolate: [], encode: [] };
  const expectedFrames = Number(source.video.nbFrames) || undefined;
  let pipeline: FramePipeline | undefined;
  let sink: FileSink | undefined;
  let failover: unknown;
  try {
    pipeline = await FramePipeline.create({
      engine: { ...options, onProviderFailover: (error) => (failover = error) },
      inputTimeBase: source.video.timeBase,
      target: options.target,
      inputPolicy: 'wait',
      bufferFrames: options.bufferFrames ?? 4,
      clock: 'decoder',
      onDecoded: (timing) => times.decode.push(timing.decoded! - timing.decodeStart!),
      onAnalysed: (timing) => times.features.push(stageMs(timing, 'features')!),
      onProgress: (stats) => options.onProgress?.({ stats, expectedFrames, elapsedSeconds: (performance.now() - started) / 1000 }),
      onSent: ({ kind, timing }) => {
        // Pass-through frames take no engine time: only synthesized ones say what interpolating costs.
        if (kind === 'interpolated' || kind === 'fallback') times.interpolate.push(stageMs(timing, 'interpolate')!);
        times.encode.push(stageMs(timing, 'encode')!);
        options.onFrame?.({ kind, timing });
      },
    });
    sink = await FileSink.open({ path: options.output, audio: source.audio });
    await pipeline.run(source.read(), timedSink(sink));
    if (pipeline.stats.framesIn === 0) {
      throw new InputError(`no video frame could be decoded from ${source.url}` + (source.decodeErrors ? ` (${source.decodeErrors} damaged packets)` : ''));
    }
    await sink.close();
    const stats = pipeline.stats;
    const wallSeconds = (performance.now() - started) / 1000;
    const warnings = [source.truncationWarning()].filter((w): w is string => w !== undefined);
    if (source.decodeErrors) warnings.push(`${source.decodeErrors} damaged video packets could not be decoded; their frames are missing`);
    if (failover !== undefined) warnings.push(`the model failed on its provider mid-file (${errorMessage(failover)}); the slots after it ran on the CPU (the /cpu rung), blend while that loaded`);
    const semantic = pipeline.engine.semantic;
    return {
      ...stats,
      fallbackFrames: stats.fallbackFrames.map((f) => ({ ...f })),
      rungFrames: stats.rungFrames.map((r) => ({ ...r })),
      interpolator: pipeline.interpolator,
      warnings,
      decodeErrors: source.decodeErrors,
      audio: sink.audioMode,
      wallSeconds,
      fps: stats.framesOut / wallSeconds,
      inputFps: stats.framesIn / wallSeconds,
      width: pipeline.geometry!.width,
      height: pipeline.geometry!.height,
      stages: Object.fromEntries(STAGES.map((stage) => [stage, figures(times[stage])])) as Record<Stage, StageFigures>,
      ...(semantic ? { sceneCuts: semantic.cuts } : {}),
    };
  } catch (err) {
    // A half-written file would pass for a result: remove it.
    await sink?.close().catch(() => {
      // The job has failed already, with its own reason.
    });
    try {
      rmSync(options.output, { force: true });
    } catch {
      // nothing was written there
    }
    throw err;
  } finally {
    await pipeline?.[Symbol.asyncDispose]();
  }
}

/** The file sink as the pipeline's sink: the encode span measured around it (a file's packets are "sent" once encoded and muxed). */
function timedSink(sink: FileSink): FrameSink {
  return {
    writeVideo: async (frame) => {
      const encodeStart = performance.now();
      await sink.writeVideo(frame);
      const encoded = performance.now();
      return { encodeStart, encoded, sent: encoded };
    },
    writeAudio: (packet) => sink.writeAudio(packet),
  };
}

function figures(values: number[]): StageFigures {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { p50: at(0.5), p95: at(0.95) };
}
