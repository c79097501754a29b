import { RtpHeader, RtpPacket } from 'werift';

/** One receiver of the relayed audio (a WHEP viewer with an audio track). */
export interface AudioViewer {
  readonly id: string;
  /** Connected, with an audio track: until then it gets nothing. */
  readonly audioReady: boolean;
  sendAudio(packet: RtpPacket): void;
}

/**
 * Opus packets to every viewer with an audio track. Each packet is one RTP
 * payload as it is (RFC 7587), stamped per viewer with that viewer's own
 * sequence numbers; the RTP timestamp (48 kHz) is the stream's, so every
 * viewer sees the same timing. No keyframes, no skipping: an Opus packet
 * decodes on its own, and audio is too small to congest what video does not.
 */
export class AudioFanout {
  private readonly viewers = new Map<string, { viewer: AudioViewer; sequence: number }>();
  /** Packets sent, summed over viewers. */
  sent = 0;

  get count(): number {
    return this.viewers.size;
  }

  add(viewer: AudioViewer): void {
    this.viewers.set(viewer.id, { viewer, sequence: Math.floor(Math.random() * 0x10000) });
  }

  remove(id: string): void {
    this.viewers.delete(id);
  }

  writeOpus(payload: Buffer, timestamp: number): void {
    for (const state of this.viewers.values()) {
      if (!state.viewer.audioReady) continue;
      const header = new RtpHeader({ sequenceNumber: state.sequence, timestamp: timestamp >>> 0, marker: false });
      state.sequence = (state.sequence + 1) & 0xffff;
      state.viewer.sendAudio(new RtpPacket(header, payload));
      this.sent++;
    }
  }
}
