import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { RTCPeerConnection, type RTCRtpSender, type RtpPacket } from 'werift';
import { answerOffer, peerConfig, type PeerNetworkOptions } from './peer-config.js';
import { type CodecChoice, restrictOffer, type VideoCodecName } from './sdp-offer.js';
import { type Logger } from '../../base/logger.js';
import type { RtpViewer } from './video-fanout.js';
import type { AudioViewer } from './audio-fanout.js';
import { errorMessage } from '../../base/errors.js';

export interface WhepViewerOptions extends PeerNetworkOptions {
  logger: Logger;
  /** What the viewer is called in logs. */
  name: string;
  /** The viewer asked for a keyframe (PLI or FIR: its decoder lost track). */
  onKeyframeRequest?: () => void;
  /** Became able to take packets: needs a keyframe to start. */
  onReady?: () => void;
  /** The offer's Opus (see `chooseAudioCodec`): the viewer gets an audio track too. */
  audio?: CodecChoice;
  /**
   * A connected viewer that sends no RTCP (receiver reports, NACK, PLI) for
   * this long is gone and is closed (default 15 s). Without it a viewer whose
   * page or network vanished without a DELETE stayed listed and fed forever:
   * werift notices no loss of ICE consent.
   */
  silenceTimeoutMs?: number;
  /**
   * A viewer whose ICE and DTLS have not connected this long after its offer
   * was answered never will: it is closed, freeing its viewer slot and
   * sockets (default 15 s). Without it, offers POSTed and never followed up
   * held a viewer slot for good (issue #28).
   */
  connectTimeoutMs?: number;
}

const DEFAULT_SILENCE_TIMEOUT_MS = 15_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

export interface WhepViewerEvents {
  end: [reason: string];
}

/**
 * One WHEP viewer: a werift peer connection sending one video track and,
 * when the offer asks for audio, one Opus track. The packets come from the
 * stream's `VideoFanout` and `AudioFanout`; the viewer only stamps and
 * encrypts them (werift's sender sets SSRC and payload type, keeps a
 * history for NACK retransmission, and sends sender reports, which is what
 * the browser lines audio and video up by).
 *
 * The viewer owns its peer connection; `close()` — a DELETE, the stream
 * ending, or the connection failing — closes it.
 */
export class WhepViewer extends EventEmitter<WhepViewerEvents> implements RtpViewer, AudioViewer, AsyncDisposable {
  readonly id = randomUUID();
  readonly codec: VideoCodecName;
  backlog = 0;
  sent = 0;
  audioSent = 0;
  private connected = false;
  private lastHeard = Date.now();
  private silenceTimer?: NodeJS.Timeout;
  private connectTimer?: NodeJS.Timeout;
  private endReason?: string;
  private hungUp?: Promise<void>;

  private constructor(
    private readonly pc: RTCPeerConnection,
    private readonly sender: RTCRtpSender,
    private readonly audioSender: RTCRtpSender | undefined,
    choice: CodecChoice,
    private readonly options: WhepViewerOptions,
  ) {
    super();
    this.codec = choice.codec.name as VideoCodecName;
    for (const s of [sender, audioSender]) s?.onRtcp.subscribe(() => (this.lastHeard = Date.now()));
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
          clearTimeout(this.connectTimer);
          this.watchSilence();
          options.onReady?.();
        }
        if (state === 'failed' || state === 'closed') this.close(state === 'failed' ? 'ICE/DTLS failed' : 'connection closed');
      }),
    );
    const connectTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => this.close(`not connected within ${connectTimeout / 1000} s of the offer`), connectTimeout);
    this.connectTimer.unref();
  }

  static async accept(offer: string, choice: CodecChoice, options: WhepViewerOptions): Promise<{ viewer: WhepViewer; answer: string }> {
    const pc = new RTCPeerConnection(peerConfig(choice.codec.name as VideoCodecName, options));
    // A send-only video transceiver, matched to the offer's (receive-only) video section.
    // Transceivers are matched to the offer's sections by kind, in order.
    const sections = [{ kind: 'video' as const, index: choice.section.index }, ...(options.audio ? [{ kind: 'audio' as const, index: options.audio.section.index }] : [])].sort((a, b) => a.index - b.index);
    const senders: Partial<Record<'video' | 'audio', RTCRtpSender>> = {};
    for (const { kind } of sections) senders[kind] = pc.addTransceiver(kind, { direction: 'sendonly' }).sender;
    const viewer = new WhepViewer(pc, senders.video!, senders.audio, choice, options);
    try {
      let restricted = restrictOffer(offer, choice.section.index, choice.codec.payloadType);
      if (options.audio) restricted = restrictOffer(restricted, options.audio.section.index, options.audio.codec.payloadType);
      const answer = await answerOffer(pc, restricted);
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

  get audioReady(): boolean {
    return this.audioSender !== undefined && this.ready;
  }

  /** One Opus packet, already stamped (see `AudioFanout`); a failure here costs the packet, not the viewer. */
  sendAudio(packet: RtpPacket): void {
    if (this.ended || !this.audioSender) return;
    this.audioSender.sendRtp(packet).then(
      () => this.audioSent++,
      () => {},
    );
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
        this.close(`send failed: ${errorMessage(error)}`);
      },
    );
  }

  close(reason = 'closed'): void {
    if (this.ended) return;
    this.endReason = reason;
    clearInterval(this.silenceTimer);
    clearTimeout(this.connectTimer);
    this.hungUp = this.pc.close().catch((error: unknown) => this.options.logger.warn(`${this.options.name}: closing the peer connection failed: ${errorMessage(error)}`));
    this.emit('end', reason);
  }

  /** `close()`, then waits for the peer connection to be hung up. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.hungUp;
  }

  private watchSilence(): void {
    const timeout = this.options.silenceTimeoutMs ?? DEFAULT_SILENCE_TIMEOUT_MS;
    this.lastHeard = Date.now();
    this.silenceTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > timeout) this.close(`no RTCP from the viewer for ${timeout / 1000} s: it is gone`);
    }, timeout / 5);
    this.silenceTimer.unref();
  }

  private guard<A extends unknown[]>(what: string, handler: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handler(...args);
      } catch (error) {
        this.options.logger.warn(`${this.options.name}: ${what} handler failed: ${errorMessage(error)}`);
      }
    };
  }
}
