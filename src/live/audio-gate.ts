export interface AudioGateOptions {
  /** Items held at most; past it the oldest goes out anyway, so a stalled video never silences the audio for long (default 100: 2 s of 20 ms Opus). */
  maxHeld?: number;
}

/**
 * Keeps relayed audio in step with the delayed video (pure: times in,
 * items out). Upconverting holds every video frame back (the next input
 * frame must arrive before the gap can be filled, then the engine and the
 * encoder take their time), while audio needs no work. A WebRTC viewer
 * lines up audio and video by their send times (werift's sender reports
 * map RTP time to the wall clock at the moment of sending), so audio sent
 * at once would play ahead of the picture by the whole delay.
 *
 * So audio for media time t is held until the video for time t has been
 * sent: whatever the delay is, and however it varies, both leave together.
 * Times are seconds on the source's one timeline (see `RtpTimeline` for
 * WebRTC; FLV's audio and video share theirs).
 */
export class AudioGate<T> {
  private readonly held: { time: number; item: T }[] = [];
  private readonly maxHeld: number;
  private videoTime = -Infinity;
  /** Items let out early because too many were held. */
  overflowed = 0;

  constructor(options: AudioGateOptions = {}) {
    this.maxHeld = options.maxHeld ?? 100;
  }

  get size(): number {
    return this.held.length;
  }

  /** An audio item at media time `time`: what may be sent now (it, if its video has gone out; the oldest held ones if too many are held). */
  push(time: number, item: T): T[] {
    if (time <= this.videoTime && this.held.length === 0) return [item];
    this.held.push({ time, item });
    const out: T[] = [];
    while (this.held.length > this.maxHeld) {
      out.push(this.held.shift()!.item);
      this.overflowed++;
    }
    return out;
  }

  /** Video up to media time `time` has been sent: audio up to the same time follows, in order. */
  videoSent(time: number): T[] {
    if (time > this.videoTime) this.videoTime = time;
    const out: T[] = [];
    while (this.held.length > 0 && this.held[0]!.time <= this.videoTime) out.push(this.held.shift()!.item);
    return out;
  }

  /** Everything held, for the end of the stream (or to drop). */
  drain(): T[] {
    return this.held.splice(0).map(({ item }) => item);
  }
}
