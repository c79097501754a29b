/**
 * When each input frame's encoded data came in, kept until its decoded frame
 * comes out of the decoder, so the frame's timing record can start at its
 * arrival rather than at the end of decoding.
 *
 * Matched by timestamp (90 kHz, the decoded frame's pts on that clock): a
 * decoder with frame threads hands frames out a few packets late, so "the
 * last packet" would be the wrong one. WebRTC sources restamp frames on
 * their own timeline, so their encoded items say which pts their frames
 * will carry (matching raw RTP timestamps against it paired frames with
 * arrivals seconds old whenever the two happened to coincide). When no
 * timestamp matches, the newest arrival stands in.
 *
 * Pure: the caller passes the times.
 */
export class ArrivalLog {
  private readonly entries: { timestamp: number; at: number }[] = [];

  constructor(private readonly capacity = 64) {}

  note(timestamp: number, at: number): void {
    this.entries.push({ timestamp, at });
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  /** The arrival of the frame with this timestamp (forgetting it and anything older), else the newest arrival. */
  take(timestamp: number | undefined): number | undefined {
    const i = timestamp === undefined ? -1 : this.entries.findIndex((e) => e.timestamp === timestamp);
    if (i >= 0) {
      const { at } = this.entries[i]!;
      this.entries.splice(0, i + 1);
      return at;
    }
    return this.entries.at(-1)?.at;
  }
}
