import { RtpHeader, RtpPacket } from 'werift';
import { accessUnitNals, packetizeH264 } from './h264-packetizer.js';
import { packetizeVp8 } from './vp8-packetizer.js';

/** One receiver of the fanned-out RTP (a WHEP viewer). */
export interface RtpViewer {
  readonly id: string;
  /** Connected and able to take packets; until then it gets none (and waits for a keyframe). */
  readonly ready: boolean;
  /** Packets handed to `send` whose sending has not finished: how far behind the viewer's transport is. */
  readonly backlog: number;
  send(packet: RtpPacket): void;
}

export interface VideoFanoutOptions {
  /** A viewer with more packets than this still unsent skips to the next keyframe (default 400, about a second of video). */
  maxBacklog?: number;
  /** Called when a viewer needs a keyframe: it joined, or skipped video. */
  onKeyframeNeeded?: () => void;
}

interface ViewerState {
  viewer: RtpViewer;
  sequence: number;
  waitingForKeyframe: boolean;
}

/**
 * Encoded once, sent to many: each H.264 access unit (or VP8 frame, when
 * relaying a publisher's original VP8) is cut into RTP payloads once, then stamped for each viewer with that viewer's own
 * sequence numbers (so a viewer that skipped frames sees no gap, and asks
 * for no retransmission of what it was never sent).
 *
 * A viewer gets nothing until a keyframe (it could not decode it), so a
 * joining viewer asks for one. Sending never waits: werift's send is
 * asynchronous per viewer, and a viewer whose backlog passes `maxBacklog`
 * skips to the next keyframe instead of holding the others up.
 */
export class VideoFanout {
  private readonly viewers = new Map<string, ViewerState>();
  private readonly maxBacklog: number;
  /** Frames not sent to a viewer because it was behind, summed over viewers. */
  skipped = 0;

  constructor(private readonly options: VideoFanoutOptions = {}) {
    this.maxBacklog = options.maxBacklog ?? 400;
  }

  get count(): number {
    return this.viewers.size;
  }

  add(viewer: RtpViewer): void {
    this.viewers.set(viewer.id, { viewer, sequence: Math.floor(Math.random() * 0x10000), waitingForKeyframe: true });
    this.options.onKeyframeNeeded?.();
  }

  remove(id: string): void {
    this.viewers.delete(id);
  }

  /**
   * Sends one access unit (Annex-B) to every viewer that can take it.
   * `timestamp` is the RTP timestamp (90 kHz); `parameterSets` go in front
   * of a keyframe that lacks them.
   */
  writeH264(data: Buffer, timestamp: number, keyframe: boolean, parameterSets: Buffer[]): void {
    if (this.viewers.size === 0) return;
    this.writePayloads(packetizeH264(accessUnitNals(data, parameterSets)), timestamp, keyframe);
  }

  /** Sends one VP8 frame to every viewer that can take it; `timestamp` as for `writeH264`. */
  writeVp8(frame: Buffer, timestamp: number, keyframe: boolean): void {
    if (this.viewers.size === 0) return;
    this.writePayloads(packetizeVp8(frame), timestamp, keyframe);
  }

  private writePayloads(payloads: Buffer[], timestamp: number, keyframe: boolean): void {
    if (payloads.length === 0) return;
    let needKeyframe = false;
    for (const state of this.viewers.values()) {
      const { viewer } = state;
      if (!viewer.ready) {
        state.waitingForKeyframe = true;
        continue;
      }
      if (viewer.backlog > this.maxBacklog) {
        if (!state.waitingForKeyframe) needKeyframe = true;
        state.waitingForKeyframe = true;
        this.skipped++;
        continue;
      }
      if (state.waitingForKeyframe) {
        if (!keyframe) {
          needKeyframe = true;
          continue;
        }
        state.waitingForKeyframe = false;
      }
      payloads.forEach((payload, i) => {
        const header = new RtpHeader({ sequenceNumber: state.sequence, timestamp: timestamp >>> 0, marker: i === payloads.length - 1 });
        state.sequence = (state.sequence + 1) & 0xffff;
        viewer.send(new RtpPacket(header, payload));
      });
    }
    if (needKeyframe) this.options.onKeyframeNeeded?.();
  }
}
