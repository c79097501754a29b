/**
 * Which packets a freshly connected push target gets: nothing until a video
 * keyframe, then everything. A player that joins the target's stream cannot
 * decode the frames before one, and audio ahead of the first picture would
 * only make the target's clock start before its video.
 *
 * Pure: one per connection (`reset()` on reconnecting).
 */
export class KeyframeGate {
  private open = false;

  /** A new connection: closed again until the next keyframe. */
  reset(): void {
    this.open = false;
  }

  /** Whether a packet goes to the target. */
  pass(kind: 'video' | 'audio', keyframe: boolean): boolean {
    if (!this.open && kind === 'video' && keyframe) this.open = true;
    return this.open;
  }
}
