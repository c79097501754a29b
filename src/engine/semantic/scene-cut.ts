/**
 * Scene-cut detection from semantic features: a cut lies between two
 * frames when their pooled features (unit vectors) are far apart, i.e.
 * their cosine similarity is below `threshold`. Motion, even fast motion,
 * keeps what a frame shows; a cut changes it, so the encoder's features
 * separate the two where pixel differences do not.
 *
 * Pure: it is fed each frame's features in order and answers for the gap
 * before that frame. At a cut the engine repeats the nearer frame instead
 * of morphing one scene into the other.
 */
export interface SceneCutVerdict {
  cut: boolean;
  /** Cosine similarity to the previous frame's features (undefined for the first frame). */
  similarity?: number;
}

export class SceneCutDetector {
  private previous?: Float32Array;

  constructor(readonly threshold: number) {}

  /** The next frame's pooled features (unit length); whether a cut separates it from the frame before. */
  processFeatures(pooled: Float32Array): SceneCutVerdict {
    const previous = this.previous;
    this.previous = pooled;
    if (!previous) return { cut: false };
    const similarity = dot(previous, pooled);
    return { cut: similarity < this.threshold, similarity };
  }

  /** Forgets the previous frame (after a discontinuity the stream starts over). */
  reset(): void {
    this.previous = undefined;
  }
}

/** The dot product of two equally long vectors: their cosine similarity when both have unit length. */
export function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`feature sizes differ: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
