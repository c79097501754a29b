import { paddedSize, type RgbImage } from './interpolator.js';
import type { ModelSession } from './model-session.js';

/** The probe pair's picture size: small enough to cost a few milliseconds at load, large enough for every level of a coarse-to-fine model. */
const PROBE_SIZE = 64;

/**
 * Runs `session` once on a small synthetic pair (a ramp moved by 3 pixels)
 * and throws when any output holds NaN or ±Infinity. A graph that loads and
 * runs but computes nothing (NaN weights, a broken export, a float16
 * overflow) would otherwise report ready and make every in-between frame
 * black, with no error anywhere.
 */
export async function probeOutputs(session: ModelSession, padMultiple: number): Promise<void> {
  const out = await session.run(probeImage(padMultiple, 0), probeImage(padMultiple, 3), 0.5);
  for (const [name, tensor] of Object.entries(out)) {
    if (!(tensor.data instanceof Float32Array)) continue;
    const bad = nonFinite(tensor.data);
    if (bad > 0) {
      throw new Error(
        `model "${session.name}" is refused: ${bad} of the ${tensor.data.length} values of its output "${name}" on a ${PROBE_SIZE}x${PROBE_SIZE} test pair are NaN or infinite (broken weights?)`,
      );
    }
  }
}

function nonFinite(data: Float32Array): number {
  let count = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) count++;
  return count;
}

/** A padded image whose picture holds diagonal ramps shifted right by `shift` pixels; the padding is zero. */
function probeImage(multiple: number, shift: number): RgbImage {
  const paddedWidth = paddedSize(PROBE_SIZE, multiple);
  const paddedHeight = paddedSize(PROBE_SIZE, multiple);
  const data = new Float32Array(3 * paddedWidth * paddedHeight);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < PROBE_SIZE; y++)
      for (let x = 0; x < PROBE_SIZE; x++) data[(c * paddedHeight + y) * paddedWidth + x] = (((x - shift) * 5 + y * 3 + c * 40 + 256) % 256) / 255;
  return { width: PROBE_SIZE, height: PROBE_SIZE, paddedWidth, paddedHeight, data };
}
