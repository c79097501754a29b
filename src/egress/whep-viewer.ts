import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { RTCPeerConnection, type RTCRtpSender, type RtpPacket } from 'werift';
import { answerOffer, peerConfig, type PeerNetworkOptions } from '../ingest/webrtc/peer-config.js';
import { type CodecChoice, restrictOffer, type VideoCodecName } from '../ingest/webrtc/sdp-offer.js';
import type { RtmpLogger } from '../ingest/rtmp/rtmp-server.js';
import type { RtpViewer } from './video-fanout.js';

export interface WhepViewerOptions extends PeerNetworkOptions {
  logger: RtmpLogger;
  /** What the viewer is called in logs. */
  name: string;
  /** The viewer asked for a keyframe (PLI or FIR: its decoder lost track). */
  onKeyframeRequest?: () => void;
  /** Became able to take packets: needs a keyframe to start. */
  onReady?: () => void;
}

export interface WhepViewerEvents {
  end: [reason: string];
}

/**
 * One WHEP viewer: a werift peer connection sending one video track. The
 * packets come from the stream's `VideoFanout`; the viewer only stamps and
 * encrypts them (werift's sender sets SSRC and payload type, keeps a
 * history for NACK retransmission, and sends sender reports).
 *
 * The viewer owns its peer connection; `close()` — a DELETE, the stream
 * ending, or the connection failing — closes it.
 */
export class WhepViewer extends EventEmitter<WhepViewerEvents> implements RtpViewer {
  readonly id = randomUUID();
  readonly codec: VideoCodecName;
  backlog = 0;
  sent = 0;
  private connected = false;
  private endReason?: string;

  private constructor(
    private readonly pc: RTCPeerConnection,
    private readonly sender: RTCRtpSender,
    choice: CodecChoice,
    private readonly options: WhepViewerOptions,
  ) {
    super();
    this.codec = choice.codec.name as VideoCodecName;
    sender.onPictureLossIndication.subscribe(this.guard('PLI', () => options.onKeyframeRequest?.()));
    sender.onRtcp.subscribe(
      this.guard('RTCP', (rtcp: { type: number; feedback?: { count?: number } }) => {
        // FIR (payload-specific feedback, FMT 4) means the same as PLI here.
        if (rtcp.type === 206 && rtcp.feedback?.count === 4) options.onKeyframeRequest?.();
      }),
    );
    pc.connectionStateChange.subscribe(
      this.guard('connection state', (state: string) => {
        if (state === 'connected' && !this.connected) {
          this.connected = true;
          options.onReady?.();
        }
        if (state === 'failed' || state === 'closed') this.close(state === 'failed' ? 'ICE/DTLS failed' : 'connection closed');
      }),
    );
  }

  static async accept(offer: string, choice: CodecChoice, options: WhepViewerOptions): Promise<{ viewer: WhepViewer; answer: string }> {
    const pc = new RTCPeerConnection(peerConfig(choice.codec.name as VideoCodecName, options));
    // A send-only video transceiver, matched to the offer's (receive-only) video section.
    const transceiver = pc.addTransceiver('video', { direction: 'sendonly' });
    const viewer = new WhepViewer(pc, transceiver.sender, choice, options);
    try {
      const answer = await answerOffer(pc, restrictOffer(offer, choice.section.index, choice.codec.payloadType));
      return { viewer, answer };
    } catch (error) {
      viewer.close('negotiation failed');
      throw error;
    }
  }

  get ready(): boolean {
    return this.connected && !this.ended;
  }

  get ended(): boolean {
    return this.endReason !== undefined;
  }

  send(packet: RtpPacket): void {
    if (this.ended) return;
    this.backlog++;
    this.sender.sendRtp(packet).then(
      () => {
        this.backlog--;
        this.sent++;
      },
      (error: unknown) => {
        this.backlog--;
        this.close(`send failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  close(reason = 'closed'): void {
    if (this.ended) return;
    this.endReason = reason;
    this.pc.close().catch((error: unknown) => this.options.logger.warn(`${this.options.name}: closing the peer connection failed: ${String(error)}`));
    this.emit('end', reason);
  }

  private guard<A extends unknown[]>(what: string, handler: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handler(...args);
      } catch (error) {
        this.options.logger.warn(`${this.options.name}: ${what} handler failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
  }
}
