/**
 * Whether a connection's video still decodes: once it has decoded, a window
 * of `stallMs` in which video packets keep coming (at least 10) but fewer
 * than a quarter of them come out as frames means the video changed under
 * the decoder (a new codec on the same stream, which FFmpeg's decoders mostly
 * take without an error): the connection is dropped and the next one probes
 * again. Before the first frame nothing counts (a stream joined mid-GOP).
 */
export class DecodeHealth {
  private packets = 0;
  private frames = 0;
  private window?: { at: number; packets: number; frames: number };

  packet(): void {
    this.packets++;
  }

  frame(): void {
    this.frames++;
  }

  /** Frames decoded so far. */
  get decoded(): number {
    return this.frames;
  }

  check(now: number, stallMs: number): string | undefined {
    if (this.frames === 0) return undefined;
    this.window ??= { at: now, packets: this.packets, frames: this.frames };
    if (now - this.window.at < stallMs) return undefined;
    const packets = this.packets - this.window.packets;
    const frames = this.frames - this.window.frames;
    this.window = { at: now, packets: this.packets, frames: this.frames };
    return packets >= 10 && frames * 4 < packets ? `the video no longer decodes (${packets} packets, ${frames} frames in ${stallMs / 1000} s)` : undefined;
  }
}
