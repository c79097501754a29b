import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type MediaStreamTrack, RTCPeerConnection, type RTCRtpTransceiver, type RtcpPacket, RtcpSrPacket, type RtpPacket } from 'werift';
import { type Logger } from '../../base/logger.js';
import { answerOffer, enlargeReceiveBuffers, peerConfig, type PeerNetworkOptions } from './peer-config.js';
import { RtpFrameAssembler, type EncodedVideoFrame } from './rtp-frame-assembler.js';
import { type CodecChoice, restrictOffer, type VideoCodecName } from './sdp-offer.js';
import { errorMessage } from '../../base/errors.js';

/**
 * What a WHIP session receives, in arrival order: whole video frames, Opus
 * packets (one RTP payload each, RFC 7587), and each medium's RTCP sender
 * reports (an RTP timestamp and the sender's wall clock then, for lip sync).
 */
export type WhipItem =
  | { kind: 'video'; frame: EncodedVideoFrame; receivedAt: number }
  | { kind: 'audio'; payload: Buffer; timestamp: number; receivedAt: number }
  | { kind: 'report'; media: 'video' | 'audio'; ntpMs: number; rtpTimestamp: number };

export interface WhipSessionOptions extends PeerNetworkOptions {
  /** No video packet for this long ends the session: the publisher vanished (default 5 s; 15 s before the first one). */
  idleTimeoutMs?: number;
  /** Frames waiting for the decoder before the backlog is dropped and a keyframe requested (default 60). */
  maxQueuedFrames?: number;
  /** The offer's Opus (see `chooseAudioCodec`): its packets are received too. Without it, audio is refused. */
  audio?: CodecChoice;
  logger: Logger;
  /** What the session is called in logs (`whip 'key'`). */
  name: string;
}

export interface WhipSessionEvents {
  /** The session is over, and why: `deleted`, `ice failed`, `connection closed`, `idle timeout`, `server closed`, … */
  end: [reason: string];
}

/** Kernel receive buffer asked for on a publisher's UDP sockets (see `enlargeReceiveBuffers`); browsers ask for megabytes too. */
const RECEIVE_BUFFER_BYTES = 4 << 20;
const PLI_INTERVAL_MS = 300;
const FIRST_PACKET_TIMEOUT_MS = 15_000;

/**
 * One WHIP publisher: a werift peer connection receiving one video track,
 * turned into whole encoded frames, and optionally one Opus track, whose
 * packets need no reassembly (`items()`, in arrival order).
 *
 * Audio has no jitter buffer here: it is relayed as it comes (a WHEP
 * viewer's own jitter buffer orders it) or decoded (Opus conceals a gap).
 * Only video counts as a sign of life, and only video is dropped when the
 * reader falls behind (audio is small, and a reader that is behind on audio
 * is behind on everything).
 *
 * The session owns its peer connection; `close()` (or the publisher leaving,
 * or going quiet for `idleTimeoutMs`) closes it and ends `frames()` once
 * what was queued has been read. Handlers run inside werift's event
 * dispatch, which swallows exceptions: each one is wrapped so a failure is
 * logged and ends the session instead of vanishing.
 */
export class WhipSession extends EventEmitter<WhipSessionEvents> implements AsyncDisposable {
  /** The resource id in `/whip/<key>/<id>`: random, so it also works as the session's capability. */
  readonly id = randomUUID();
  readonly codec: VideoCodecName;
  packets = 0;
  audioPackets = 0;
  private readonly assembler: RtpFrameAssembler;
  private readonly queue: WhipItem[] = [];
  private queuedVideo = 0;
  /** Whether the answer accepted the publisher's audio. */
  readonly hasAudio: boolean;
  private wake?: () => void;
  private idleTimer?: NodeJS.Timeout;
  private lastPli = 0;
  private dropping = false;
  private endReason?: string;
  private hungUp?: Promise<void>;
  private videoTransceiver?: RTCRtpTransceiver;
  private videoTrack?: MediaStreamTrack;
  private audioTrack?: MediaStreamTrack;

  private constructor(
    private readonly pc: RTCPeerConnection,
    choice: CodecChoice,
    private readonly options: WhipSessionOptions,
  ) {
    super();
    this.codec = choice.codec.name as VideoCodecName;
    this.assembler = new RtpFrameAssembler(this.codec);
    this.hasAudio = options.audio !== undefined;
    pc.onTrack.subscribe(this.guard('track', (track: MediaStreamTrack) => this.onTrack(track)));
    pc.connectionStateChange.subscribe(
      this.guard('connection state', (state: string) => {
        if (state === 'failed' || state === 'closed') this.close(state === 'failed' ? 'ICE/DTLS failed' : 'connection closed');
      }),
    );
    this.armIdleTimer(FIRST_PACKET_TIMEOUT_MS);
  }

  /** Answers a checked offer (see `parseOffer`, `chooseVideoCodec`): resolves once ICE gathering is complete. */
  static async accept(offer: string, choice: CodecChoice, options: WhipSessionOptions): Promise<{ session: WhipSession; answer: string }> {
    const pc = new RTCPeerConnection(peerConfig(choice.codec.name as VideoCodecName, options));
    const session = new WhipSession(pc, choice, options);
    try {
      let restricted = restrictOffer(offer, choice.section.index, choice.codec.payloadType);
      if (options.audio) restricted = restrictOffer(restricted, options.audio.section.index, options.audio.codec.payloadType);
      const answer = await answerOffer(pc, restricted);
      if (enlargeReceiveBuffers(pc, RECEIVE_BUFFER_BYTES).length === 0) options.logger.warn(`${options.name}: could not enlarge the UDP receive buffer (werift internals moved?): unpaced bursts may lose packets`);
      return { session, answer };
    } catch (error) {
      session.close('negotiation failed');
      throw error;
    }
  }

  get ended(): boolean {
    return this.endReason !== undefined;
  }

  /** Encoded frames and audio packets in arrival order; ends after `close()` once the queue is drained. Read it once. */
  async *items(): AsyncGenerator<WhipItem> {
    for (;;) {
      const item = this.queue.shift();
      if (item) {
        if (item.kind === 'video') this.queuedVideo--;
        yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Asks the publisher for a keyframe (PLI), at most every 300 ms. */
  requestKeyframe(): void {
    const now = performance.now();
    if (this.ended || !this.videoTrack?.ssrc || !this.videoTransceiver || now - this.lastPli < PLI_INTERVAL_MS) return;
    this.lastPli = now;
    this.videoTransceiver.receiver.sendRtcpPLI(this.videoTrack.ssrc).catch((error: unknown) => this.options.logger.warn(`${this.options.name}: PLI failed: ${errorMessage(error)}`));
  }

  /** Ends the session: hangs up the peer connection and lets `frames()` finish. Idempotent. */
  close(reason = 'closed'): void {
    if (this.ended) return;
    this.endReason = reason;
    clearTimeout(this.idleTimer);
    this.wake?.();
    this.hungUp = this.pc.close().catch((error: unknown) => this.options.logger.warn(`${this.options.name}: closing the peer connection failed: ${errorMessage(error)}`));
    this.emit('end', reason);
  }

  /** `close()`, then waits for the peer connection to be hung up. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.hungUp;
  }

  private onTrack(track: MediaStreamTrack): void {
    if (track.kind === 'audio') {
      if (this.audioTrack || !this.hasAudio) return;
      this.audioTrack = track;
      track.onReceiveRtp.subscribe(this.guard('audio rtp', (rtp: RtpPacket) => this.onAudioRtp(rtp)));
      track.onReceiveRtcp.subscribe(this.guard('audio rtcp', (rtcp: RtcpPacket) => this.onRtcp('audio', rtcp)));
      return;
    }
    if (track.kind !== 'video' || this.videoTrack) return;
    this.videoTrack = track;
    this.videoTransceiver = this.pc.getTransceivers().find((t) => t.receiver.track === track || t.receiver.tracks.includes(track));
    track.onReceiveRtp.subscribe(this.guard('rtp', (rtp: RtpPacket) => this.onRtp(rtp)));
    track.onReceiveRtcp.subscribe(this.guard('rtcp', (rtcp: RtcpPacket) => this.onRtcp('video', rtcp)));
  }

  private onRtcp(media: 'video' | 'audio', rtcp: RtcpPacket): void {
    if (this.ended || !(rtcp instanceof RtcpSrPacket)) return;
    // NTP: seconds in the high 32 bits, a binary fraction in the low ones.
    const ntp = BigInt(rtcp.senderInfo.ntpTimestamp);
    const ntpMs = Number(ntp >> 32n) * 1000 + (Number(ntp & 0xffffffffn) * 1000) / 2 ** 32;
    this.enqueue({ kind: 'report', media, ntpMs, rtpTimestamp: Number(rtcp.senderInfo.rtpTimestamp) });
  }

  private onRtp(rtp: RtpPacket): void {
    if (this.ended) return;
    this.packets++;
    this.armIdleTimer(this.options.idleTimeoutMs ?? 5000);
    for (const out of this.assembler.processInput(rtp)) {
      if ('needKeyframe' in out) {
        this.requestKeyframe();
        continue;
      }
      if (this.dropping && !out.frame.keyframe) continue;
      this.dropping = false;
      if (this.queuedVideo >= (this.options.maxQueuedFrames ?? 60)) {
        // The decoder fell far behind: skip to the next keyframe rather than decode stale video.
        this.queue.length = 0;
        this.queuedVideo = 0;
        this.dropping = true;
        this.requestKeyframe();
        continue;
      }
      this.queuedVideo++;
      this.enqueue({ kind: 'video', frame: out.frame, receivedAt: performance.now() });
    }
  }

  private onAudioRtp(rtp: RtpPacket): void {
    if (this.ended || rtp.payload.length === 0) return;
    this.audioPackets++;
    this.enqueue({ kind: 'audio', payload: rtp.payload, timestamp: rtp.header.timestamp, receivedAt: performance.now() });
  }

  private enqueue(item: WhipItem): void {
    this.queue.push(item);
    this.wake?.();
    this.wake = undefined;
  }

  private armIdleTimer(ms: number): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close('idle timeout: no video packets'), ms);
    this.idleTimer.unref();
  }

  private guard<A extends unknown[]>(what: string, handler: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handler(...args);
      } catch (error) {
        this.options.logger.warn(`${this.options.name}: ${what} handler failed: ${errorMessage(error)}`);
        this.close(`internal error: ${errorMessage(error)}`);
      }
    };
  }
}
