/**
 * The largest video a stream accepts. Checked on every frame, not once: a
 * publisher may change resolution mid-stream.
 *
 * Pure: it is given the frame's size and answers with the reason to refuse it.
 */
export class SizeLimit {
  constructor(
    readonly maxWidth = Infinity,
    readonly maxHeight = Infinity,
  ) {}

  /** Why a frame of this size is refused, or undefined when it fits. */
  check(width: number, height: number): string | undefined {
    if (width <= this.maxWidth && height <= this.maxHeight) return undefined;
    return `the video is ${width}x${height}, over this server's limit of ${bound(this.maxWidth)}x${bound(this.maxHeight)}`;
  }
}

function bound(max: number): string {
  return Number.isFinite(max) ? String(max) : '∞';
}
