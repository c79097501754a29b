import { rmSync } from 'node:fs';
import { FileSink } from './egress/file-sink.js';
import { createSynthesizer, resolveKind, type InterpolatorChoice } from './engine/create-interpolator.js';
import { createBlendSynthesizer, type Synthesizer } from './engine/synthesis.js';
import type { RateTarget } from './engine/slot-planner.js';
import { Upconverter, type UpconverterStats } from './engine/upconverter.js';
import { FileSource, InputError } from './ingest/file-source.js';
import { FrameNormalizer, type NormalizedFrame } from './ingest/frame-normalizer.js';
import { RingBuffer } from './ingest/ring-buffer.js';
import { pushAll, runStages } from './engine/stages.js';
import type { Frame } from 'node-av/lib';

export interface ConvertOptions extends InterpolatorChoice {
  input: string;
  /** Forces the input format (`lavfi` for the built-in test source). */
  inputFormat?: string;
  output: string;
  target: RateTarget;
  /** Decoded frames buffered ahead of the engine. */
  bufferFrames?: number;
  onProgress?: (progress: ConvertProgress) => void;
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
}

/**
 * `frc convert`: file or URL in, file out at the target rate. The buffers
 * between stages make the faster side wait (a file must lose no frame);
 * audio goes straight to the muxer.
 */
export async function convert(options: ConvertOptions): Promise<ConvertSummary> {
  const started = performance.now();
  await using source = await FileSource.open(options.input, { format: options.inputFormat });
  const synthesizer = await createSynthesizer(options);
  // A model that fails mid-stream hands its slots to blend instead of ending the job.
  const fallback = resolveKind(options) === 'model' ? await createBlendSynthesizer(options) : undefined;
  let sink: FileSink | undefined;
  try {
    sink = await FileSink.open({ path: options.output, audio: source.audio });
    const stats = await run(source, sink, synthesizer, fallback, options, started);
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
      width: stats.width,
      height: stats.height,
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
    await synthesizer.close();
    await fallback?.close();
  }
}

async function run(
  source: FileSource,
  sink: FileSink,
  synthesizer: Synthesizer,
  fallback: Synthesizer | undefined,
  options: ConvertOptions,
  started: number,
): Promise<{ stats: UpconverterStats; width: number; height: number }> {
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
  const decoded = new RingBuffer<NormalizedFrame>({ capacity: options.bufferFrames ?? 4, policy: 'wait', onDrop: (item) => item.frame.free() });
  const rendered = new RingBuffer<Frame>({ capacity: 4, policy: 'wait', onDrop: (frame) => frame.free() });
  const expectedFrames = Number(source.video.nbFrames) || undefined;

  const decode = async (): Promise<void> => {
    for await (const item of source.read()) {
      if (decoded.isClosed) break;
      if (item.kind === 'audio') {
        await sink.writeAudio(item.packet);
        item.packet.free();
      } else {
        await decoded.push(await normalizer.normalize(item.frame));
      }
    }
  };
  const interpolate = async (): Promise<void> => {
    for await (const { frame, discontinuity } of decoded) {
      await pushAll(rendered, await upconverter.push(frame, discontinuity));
      options.onProgress?.({ stats: upconverter.stats, expectedFrames, elapsedSeconds: (performance.now() - started) / 1000 });
    }
    await pushAll(rendered, upconverter.finish());
  };
  const encode = async (): Promise<void> => {
    for await (const frame of rendered) {
      try {
        await sink.writeVideo(frame);
      } finally {
        frame.free();
      }
    }
  };

  await runStages([
    { run: decode, output: decoded },
    { run: interpolate, output: rendered },
    { run: encode },
  ]);

  if (upconverter.stats.framesIn === 0) {
    throw new InputError(
      `no video frame could be decoded from ${source.url}` + (source.decodeErrors ? ` (${source.decodeErrors} damaged packets)` : ''),
    );
  }
  const geometry = normalizer.geometry!;
  return { stats: upconverter.stats, width: geometry.width, height: geometry.height };
}
