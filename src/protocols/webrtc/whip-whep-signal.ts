import { errorMessage } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import { type CodecChoice, chooseAudioCodec, chooseVideoCodec, h264PacketizationMode1, type ParsedOffer, type VideoCodecName, withoutUnusableCandidates } from './sdp-offer.js';
import { WhepViewer } from './whep-viewer.js';
import { WhipSession, type WhipSessionOptions } from './whip-session.js';

/**
 * WHIP (RFC 9725) and WHEP offer negotiation: what an offer asks for, whether
 * this server can give it, and the answer. Who may ask (tokens, limits, a
 * key already live) is the server's policy and is settled around these
 * calls; this file knows only SDP, codecs and peer connections.
 *
 * Each side has a pure check (`checkWhipOffer`, `checkWhepOffer`: an offer
 * in, a choice or a refusal out, testable without a peer) and an answer
 * (`answerWhip`, `answerWhep`) that makes the peer connection.
 */

/** An offer refused: the HTTP status and a reason a person can act on. */
export interface SignalRefusal {
  status: 400 | 406 | 503;
  error: string;
}

/** What a WHIP offer publishes: its video codec and, when it sends Opus, its audio. */
export interface WhipOffer {
  video: CodecChoice;
  audio?: CodecChoice;
}

/** A WHIP offer's video codec (H.264 or VP8, which the server decodes) and audio; it must send. */
export function checkWhipOffer(offer: ParsedOffer): WhipOffer | SignalRefusal {
  const video = chooseVideoCodec(offer, ['H264', 'VP8']);
  if ('reason' in video) return { status: 406, error: video.reason };
  if (video.section.direction !== 'sendonly' && video.section.direction !== 'sendrecv') return { status: 400, error: "the offer's video section does not send: a WHIP offer must be sendonly" };
  // Opus, when the publisher sends audio: relayed to WebRTC viewers, transcoded to AAC for HLS.
  const audio = chooseAudioCodec(offer, 'send');
  return audio ? { video, audio } : { video };
}

/** Answers a checked WHIP offer: resolves once ICE gathering is complete. The caller owns the session. */
export async function answerWhip(sdp: string, offer: WhipOffer, options: Omit<WhipSessionOptions, 'audio'>): Promise<{ session: WhipSession; answer: string } | SignalRefusal> {
  try {
    return await WhipSession.accept(usableCandidates(sdp, options.name, options.logger), offer.video, { ...options, audio: offer.audio });
  } catch (error) {
    return { status: 400, error: `cannot answer the offer: ${errorMessage(error)}` };
  }
}

/** What a WHEP offer needs of the stream it would watch (a live stream fits it as it is). */
export interface WhepSource {
  /** `starting` while the publisher's codec may not be known yet. */
  readonly state: string;
  /**
   * What a viewer of the original must take, once known: the publisher's
   * codec when it is relayed, H.264 when it is encoded for WebRTC; none when
   * the original cannot be watched (its encoder failed).
   */
  readonly originalCodec: VideoCodecName | undefined;
  /** Where its viewers log. */
  readonly logger: Logger;
  /** A viewer needs a keyframe of the upconverted stream (it joined, or its decoder lost track). */
  requestKeyframe(): void;
  /** A viewer of the original needs one of the publisher's. */
  requestOriginalKeyframe(): void;
  /** The stream's stats: a refusal names the publisher's `codec`, how the `original` goes, and why its encoder failed. */
  stats(): { codec?: string; original?: 'relayed' | 'encoded'; originalEncoder?: string };
}

/** What a WHEP offer watches: the codec it is sent, the audio it takes, and whether it is the original. */
export interface WhepOffer {
  video: CodecChoice;
  audio?: CodecChoice;
  original: boolean;
}

/**
 * A WHEP offer's codec for `source`: the upconverted stream is encoded once,
 * as H.264, for HLS and every viewer alike; the original is relayed as the
 * publisher sent it when WebRTC takes its codec (H.264, VP8), so only that
 * codec will do, and is otherwise encoded once as H.264 for its viewers.
 * The offer must receive.
 */
export function checkWhepOffer(offer: ParsedOffer, source: WhepSource, variant?: 'original'): WhepOffer | SignalRefusal {
  const original = variant === 'original';
  const codec = original ? source.originalCodec : 'H264';
  if (!codec) {
    if (source.state === 'starting') return { status: 503, error: 'the stream is still starting: try again in a second' };
    const stats = source.stats();
    if (stats.originalEncoder?.startsWith('failed')) return { status: 406, error: `the original cannot be watched on this stream: its H.264 encoder ${stats.originalEncoder}` };
    return { status: 406, error: `the original is ${stats.codec ?? 'in a codec'} that WebRTC viewers cannot be sent as it is (H.264 and VP8 can)` };
  }
  const video = chooseVideoCodec(offer, [codec], h264PacketizationMode1);
  if ('reason' in video) {
    if (!original) return { status: 406, error: video.reason };
    const how = source.stats().original === 'encoded' ? 'the original is encoded as H.264 for WebRTC' : "the original is relayed in the publisher's codec";
    return { status: 406, error: `${video.reason} (${how})` };
  }
  if (video.section.direction !== 'recvonly' && video.section.direction !== 'sendrecv') return { status: 400, error: "the offer's video section does not receive: a WHEP offer must be recvonly" };
  const audio = chooseAudioCodec(offer, 'receive');
  return audio ? { video, audio, original } : { video, original };
}

export interface WhepAnswerOptions {
  /** What the viewer is called in logs. */
  name: string;
  /** ICE host candidates besides the machine's interfaces (see `PeerNetworkOptions`). */
  hostAddresses?: string[];
  /** How long the viewer may take to connect before it is closed (see `WhepViewerOptions.connectTimeoutMs`). */
  connectTimeoutMs?: number;
}

/**
 * Answers a checked WHEP offer with a viewer of `source` that asks it for a
 * keyframe when it is ready and whenever its decoder loses track. The
 * caller hands the viewer to its stream, which owns it from then on.
 */
export async function answerWhep(sdp: string, offer: WhepOffer, source: WhepSource, options: WhepAnswerOptions): Promise<{ viewer: WhepViewer; answer: string } | SignalRefusal> {
  const keyframe = offer.original ? () => source.requestOriginalKeyframe() : () => source.requestKeyframe();
  try {
    return await WhepViewer.accept(usableCandidates(sdp, options.name, source.logger), offer.video, {
      name: options.name,
      logger: source.logger,
      audio: offer.audio,
      onKeyframeRequest: keyframe,
      onReady: keyframe,
      ...(options.hostAddresses ? { hostAddresses: options.hostAddresses } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
  } catch (error) {
    return { status: 400, error: `cannot answer the offer: ${errorMessage(error)}` };
  }
}

/** The offer without candidates no ICE check should go to (see `withoutUnusableCandidates`); what was left out is logged. */
function usableCandidates(sdp: string, name: string, logger: Logger): string {
  const usable = withoutUnusableCandidates(sdp);
  if (usable.dropped.length > 0) logger.info(`${name}: ignored ${usable.dropped.length} ICE candidate(s) no check may go to: ${usable.dropped.slice(0, 8).join(', ')}`);
  return usable.sdp;
}

/** A session's resource path, `/<whip|whep>/<key>/<id>`, under `base` (this instance's public URL, or nothing for a relative one). */
export function sessionLocation(base: string, protocol: 'whip' | 'whep', key: string, id: string): string {
  return `${base.replace(/\/+$/, '')}/${protocol}/${key}/${id}`;
}
