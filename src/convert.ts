import { rmSync } from 'node:fs';
import { FileSink } from './egress/file-sink.js';
import { createBlendInterpolator } from './engine/classic-interpolators.js';
import { createInterpolator, resolveKind, type InterpolatorChoice } from './engine/create-interpolator.js';
import type { Interpolator } from './engine/interpolator.js';
import type { RateTarget } from './engine/slot-planner.js';
import { Upconverter, type UpconverterStats } from './engine/upconverter.js';
import { FileSource, InputError } from './ingest/file-source.js';
import { FrameNormalizer, type NormalizedFrame } from './ingest/frame-normalizer.js';
import { RingBuffer } from './ingest/ring-buffer.js';

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
 * `frc convert`: file or URL in, file out at the target rate. Decoding runs
 * ahead of the engine through a ring buffer that makes the decoder wait
 * (a file must lose no frame); audio goes straight to the muxer.
 */
export async function convert(options: ConvertOptions): Promise<ConvertSummary> {
  const started = performance.now();
  await using source = await FileSource.open(options.input, { format: options.inputFormat });
  const interpolator = await createInterpolator(options);
  // A model that fails mid-stream hands its slots to blend instead of ending the job.
  const fallback = resolveKind(options) === 'model' ? await createBlendInterpolator(options) : undefined;
  let sink: FileSink | undefined;
  try {
    sink = await FileSink.open({ path: options.output, audio: source.audio });
    const stats = await run(source, sink, interpolator, fallback, options, started);
    await sink.close();
    const wallSeconds = (performance.now() - started) / 1000;
    const warnings = [source.truncationWarning()].filter((w): w is string => w !== undefined);
    if (source.decodeErrors) warnings.push(`${source.decodeErrors} damaged video packets could not be decoded; their frames are missing`);
    return {
      ...stats.stats,
      interpolator: interpolator.name,
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
    await interpolator.close();
    await fallback?.close();
  }
}

async function run(
  source: FileSource,
  sink: FileSink,
  interpolator: Interpolator,
  fallback: Interpolator | undefined,
  options: ConvertOptions,
  started: number,
): Promise<{ stats: UpconverterStats; width: number; height: number }> {
  using normalizer = new FrameNormalizer();
  using upconverter = await Upconverter.create({
    interpolator,
    fallback,
    inputTimeBase: source.video.timeBase,
    target: options.target,
  });
  const ring = new RingBuffer<NormalizedFrame>({
    capacity: options.bufferFrames ?? 4,
    policy: 'wait',
    onDrop: (item) => item.frame.free(),
  });

  const produce = async (): Promise<void> => {
    try {
      for await (const item of source.read()) {
        if (ring.isClosed) break;
        if (item.kind === 'audio') {
          await sink.writeAudio(item.packet);
          item.packet.free();
        } else {
          await ring.push(await normalizer.normalize(item.frame));
        }
      }
    } finally {
      ring.close();
    }
  };
  const producing = produce();

  const expectedFrames = Number(source.video.nbFrames) || undefined;
  try {
    for await (const { frame, discontinuity } of ring) {
      for (const out of await upconverter.push(frame, discontinuity)) {
        await writeAndFree(sink, out);
      }
      options.onProgress?.({ stats: upconverter.stats, expectedFrames, elapsedSeconds: (performance.now() - started) / 1000 });
    }
    for (const out of upconverter.finish()) await writeAndFree(sink, out);
  } catch (err) {
    ring.clear(); // unblocks and stops the producer
    await producing.catch(() => {});
    throw err;
  }
  await producing;

  if (upconverter.stats.framesIn === 0) {
    throw new InputError(
      `no video frame could be decoded from ${source.url}` + (source.decodeErrors ? ` (${source.decodeErrors} damaged packets)` : ''),
    );
  }
  const geometry = normalizer.geometry!;
  return { stats: upconverter.stats, width: geometry.width, height: geometry.height };
}

async function writeAndFree(sink: FileSink, frame: import('node-av/lib').Frame): Promise<void> {
  try {
    await sink.writeVideo(frame);
  } finally {
    frame.free();
  }
}
