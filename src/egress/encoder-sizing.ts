import { Encoder } from 'node-av/api';
import { FF_ENCODER_LIBX264 } from 'node-av/constants';
import type { Frame } from 'node-av/lib';
import { Rational } from 'node-av/lib';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { FileSource } from '../ingest/file-source.js';
import { MachineLoad } from '../metrics/machine-load.js';
import type { X264Preset } from './x264-presets.js';

/**
 * The presets `auto` chooses from, fastest first. Above `veryfast` a live
 * output gains little in bits for much more CPU, which on a small machine
 * the model needs (bench/synthesis: the in-between frame against the encode).
 */
export const AUTO_PRESETS = ['ultrafast', 'superfast', 'veryfast'] as const satisfies readonly X264Preset[];

/** The share of the idle cores one stream's encoder may take: the model, the decoder and the WebRTC sends need the rest. */
export const ENCODER_SHARE = 1 / 3;

/** libx264's CPU cost per preset, ms per megapixel of output, one thread. */
export type PresetCosts = ReadonlyMap<X264Preset, number>;

export interface PresetChoice {
  preset: X264Preset;
  /** In words, for the log and `/api/streams`: what it needs, and what there was. */
  reason: string;
}

/**
 * The slowest (best-compressing) preset of `AUTO_PRESETS` whose encode of
 * `pixelsPerSecond` fits in `share` of `idleCores`; `ultrafast` when none
 * does. A pure function of measured figures, so that it can be tested alone.
 */
export function choosePreset(costs: PresetCosts, pixelsPerSecond: number, idleCores: number, share = ENCODER_SHARE): PresetChoice {
  const budget = idleCores * share;
  const needs = (preset: X264Preset) => ((costs.get(preset) ?? Infinity) * pixelsPerSecond) / 1e9;
  let preset: X264Preset = AUTO_PRESETS[0];
  for (const candidate of AUTO_PRESETS) if (needs(candidate) <= budget) preset = candidate;
  const fits = needs(preset) <= budget;
  return {
    preset,
    reason: `${fits ? 'fits' : 'the fastest; does not fit'}: ${needs(preset).toFixed(2)} cores of the ${budget.toFixed(2)} allowed (${(share * 100).toFixed(0)} % of ${idleCores.toFixed(2)} idle)`,
  };
}

/**
 * The calibration clip: FFmpeg's moving test pattern, at a size where the
 * cost per pixel is already that of larger frames. Each preset is measured
 * `rounds` times, the presets in turn, and its least cost kept: one
 * measurement caught in a burst of other work on a shared machine once made
 * ultrafast look dearer than veryfast.
 */
const CALIBRATION = { width: 640, height: 360, frames: 20, warm: 4, rounds: 3 };

/**
 * Measures `AUTO_PRESETS` on this machine: each encodes the same moving
 * pattern as the live output does (zerolatency, no B-frames) on one thread,
 * and the process's CPU time is taken. Run it while nothing else in the
 * process works (the server waits for it before it listens), or that work
 * counts as the encoder's.
 */
export async function measurePresetCosts(): Promise<PresetCosts> {
  const { width, height, frames: count, warm, rounds } = CALIBRATION;
  const frames: Frame[] = [];
  {
    await using source = await FileSource.open(`testsrc2=size=${width}x${height}:rate=30`, { format: 'lavfi' });
    for await (const item of source.read()) {
      if (item.kind !== 'video') continue;
      frames.push(item.frame);
      if (frames.length === count) break;
    }
  }
  try {
    if (frames.length < count) throw new Error(`the calibration pattern gave ${frames.length} of ${count} frames`);
    const costs = new Map<X264Preset, number>();
    for (let round = 0; round < rounds; round++)
      for (const preset of AUTO_PRESETS) {
        const cost = (await encodeCost(frames, preset, warm)) / ((width * height) / 1e6);
        costs.set(preset, Math.min(cost, costs.get(preset) ?? Infinity));
      }
    return costs;
  } finally {
    for (const frame of frames) frame.free();
  }
}

/** ms of CPU per frame, after `warm` frames. */
async function encodeCost(frames: Frame[], preset: X264Preset, warm: number): Promise<number> {
  const encoder = await Encoder.create(FF_ENCODER_LIBX264, {
    gopSize: 30,
    maxBFrames: 0,
    context: { threadCount: 1 },
    options: { preset, tune: 'zerolatency', crf: 23 },
    configure: (context) => {
      context.framerate = new Rational(30, 1);
    },
  });
  try {
    for (let i = 0; i < warm; i++) for (const p of await encoder.encodeAll(frames[i]!)) p.free();
    const before = process.cpuUsage();
    for (let i = warm; i < frames.length; i++) for (const p of await encoder.encodeAll(frames[i]!)) p.free();
    const cpu = process.cpuUsage(before);
    for (const p of await encoder.encodeAll(null)) p.free();
    return (cpu.user + cpu.system) / 1000 / (frames.length - warm);
  } finally {
    encoder.close();
  }
}

/** Measured once per process: the presets' costs do not change while it runs. */
let measuring: Promise<PresetCosts> | undefined;

/**
 * `encoderPreset: auto` for a server's streams: the presets' costs measured
 * once as the server starts, the machine's idle cores followed all along,
 * and a choice per stream as its first frame opens its encoder. The stream
 * launcher owns it.
 */
export class EncoderSizing implements Disposable {
  /** Started once the costs are known, so that the measuring's own CPU does not count as load. */
  private load?: MachineLoad;
  private costs?: PresetCosts;
  private closed = false;
  /** Settles when the costs are known (or could not be measured: then every stream gets `veryfast`). */
  readonly measured: Promise<void>;

  constructor(logger: Logger) {
    measuring ??= measurePresetCosts();
    this.measured = measuring.then(
      (costs) => {
        if (this.closed) return;
        this.costs = costs;
        this.load = new MachineLoad();
        logger.info(`encoder presets measured, ms of CPU per megapixel: ${[...costs].map(([preset, ms]) => `${preset} ${ms.toFixed(2)}`).join(', ')}`);
      },
      (error) => logger.warn(`cannot measure the encoder presets, every stream takes veryfast: ${errorMessage(error)}`),
    );
  }

  /** The preset for an output of this size and rate, now. */
  readonly choose = (width: number, height: number, fps: number): PresetChoice => {
    if (!this.costs || !this.load) return { preset: 'veryfast', reason: 'the presets are not measured yet' };
    return choosePreset(this.costs, width * height * fps, this.load.idleCores());
  };

  [Symbol.dispose](): void {
    this.closed = true;
    this.load?.close();
  }

  /** The same as disposing it. */
  close(): void {
    this[Symbol.dispose]();
  }
}
