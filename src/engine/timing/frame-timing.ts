/**
 * When each step happened to one frame on its way through a pipeline, in
 * monotonic milliseconds (`performance.now()`), so that the delay the server
 * adds to every output frame, and the overlap of its stages, can be computed
 * afterwards from the records alone.
 *
 * An output frame's record starts as a copy of the input frame it derives
 * from (a pass-through frame: itself; a synthesized one: the later of its two
 * input frames, the one it had to wait for) and is completed by each stage it
 * passes.
 */
export interface FrameTiming {
  /** The input frame's encoded data came in (demuxed from FLV, reassembled from RTP). */
  arrival: number;
  /** Decoding started (for a file: the decoder was asked for the next frame). */
  decodeStart?: number;
  /** The input frame came out of the decoder, normalized. */
  decoded?: number;
  /** The semantic encoder started / finished this input frame's features (when the semantic stage runs). */
  featuresStart?: number;
  featuresEnd?: number;
  /** The engine started / finished making this output frame (equal for a pass-through frame). */
  interpStart?: number;
  interpEnd?: number;
  /** The encoder was given the frame / returned its packets. */
  encodeStart?: number;
  encoded?: number;
  /** Its packets were handed to every output (sockets, HLS muxer). */
  sent?: number;
}

export type Stage = 'decode' | 'features' | 'interpolate' | 'encode';
export const STAGES: readonly Stage[] = ['decode', 'features', 'interpolate', 'encode'];

/** How long a stage took for this frame (ms), when both ends were recorded. */
export function stageMs(timing: FrameTiming, stage: Stage): number | undefined {
  const [start, end] = stageSpan(timing, stage);
  return start === undefined || end === undefined ? undefined : end - start;
}

export function stageSpan(timing: FrameTiming, stage: Stage): [number | undefined, number | undefined] {
  switch (stage) {
    case 'decode':
      return [timing.decodeStart ?? timing.arrival, timing.decoded];
    case 'features':
      return [timing.featuresStart, timing.featuresEnd];
    case 'interpolate':
      return [timing.interpStart, timing.interpEnd];
    case 'encode':
      return [timing.encodeStart, timing.encoded];
  }
}

/** The delay the server added (ms): from the input frame's arrival until the output frame was sent. */
export function addedLatencyMs(timing: FrameTiming): number | undefined {
  return timing.sent === undefined ? undefined : timing.sent - timing.arrival;
}

/** How long two recorded spans ran at the same time (ms; 0 when they did not overlap). */
export function overlapMs(a: [number | undefined, number | undefined], b: [number | undefined, number | undefined]): number {
  const [a0, a1] = a;
  const [b0, b1] = b;
  if (a0 === undefined || a1 === undefined || b0 === undefined || b1 === undefined) return 0;
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}
