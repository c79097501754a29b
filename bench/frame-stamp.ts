/**
 * A frame counter drawn into the pixels, and read back from a received
 * frame: a row of square blocks in the top-left corner, one white and one
 * black reference block, then the frame number's bits (least significant
 * first), white for 1. Blocks are big enough (1/20 of the height) to come
 * through H.264 at live bitrates unharmed, and read by their centres only.
 *
 * An in-between frame made by blending frames n and n+1 shows the bits that
 * differ (bit 0 up to the highest bit n+1 changes) as grey: from those the
 * reader tells the pair, so a viewer knows which input frame an output frame
 * derives from.
 */
export const STAMP_BITS = 11;

/** A multiple of 4, so that the reader's centre half of a block starts on a whole pixel (1080 lines gave 54, and reads at 13.5). */
export function blockSize(height: number): number {
  return Math.max(8, Math.round(height / 20 / 4) * 4);
}

/** The FFmpeg filters that draw frame `n`'s stamp (`n` counts frames into the filter). */
export function stampFilter(height: number): string {
  const b = blockSize(height);
  const boxes = [`drawbox=x=0:y=0:w=${(STAMP_BITS + 2) * b}:h=${b}:color=black:t=fill`, `drawbox=x=0:y=0:w=${b}:h=${b}:color=white:t=fill`];
  for (let k = 0; k < STAMP_BITS; k++) {
    boxes.push(`drawbox=x=${(k + 2) * b}:y=0:w=${b}:h=${b}:color=white:t=fill:enable='eq(mod(floor(n/${2 ** k}),2),1)'`);
  }
  return boxes.join(',');
}

export type StampReading =
  /** An input frame passed through (or repeated). */
  | { kind: 'frame'; n: number }
  /** An in-between frame of n and n+1. */
  | { kind: 'between'; n: number }
  | { kind: 'unreadable' };

/** Reads the stamp from an 8-bit luma plane. */
export function readStamp(luma: Uint8Array, linesize: number, height: number): StampReading {
  const b = blockSize(height);
  const mean = (block: number) => {
    // The centre half of the block: its edges are where the encoder smears.
    const x0 = block * b + b / 4;
    const y0 = b / 4;
    let sum = 0;
    for (let y = y0; y < y0 + b / 2; y++) for (let x = x0; x < x0 + b / 2; x++) sum += luma[y * linesize + x]!;
    return sum / ((b / 2) * (b / 2));
  };
  const white = mean(0);
  const black = mean(1);
  if (white - black < 100) return { kind: 'unreadable' };
  const levels = Array.from({ length: STAMP_BITS }, (_, k) => {
    const v = (mean(k + 2) - black) / (white - black);
    return v < 0.25 ? 0 : v > 0.75 ? 1 : 0.5;
  });
  const grey = levels.flatMap((v, k) => (v === 0.5 ? [k] : []));
  if (grey.length === 0) return { kind: 'frame', n: levels.reduce<number>((sum, v, k) => sum + v * 2 ** k, 0) };
  // n → n+1 flips bits 0..top: n has 1s below top and 0 at top. Anything else is not a blend of neighbours.
  const top = grey.at(-1)!;
  if (grey.length !== top + 1) return { kind: 'unreadable' };
  let n = 2 ** top - 1;
  for (let k = top + 1; k < STAMP_BITS; k++) n += levels[k]! * 2 ** k;
  return { kind: 'between', n };
}
