import type { ServeOptions } from '../config/serve-options.js';
import type { LiveStream } from '../live/live-stream.js';
import { parseOffer, type ParsedOffer } from '../protocols/webrtc/sdp-offer.js';
import type { WhepViewer } from '../protocols/webrtc/whep-viewer.js';
import { whipInput } from '../protocols/webrtc/whip-source.js';
import { answerWhep, answerWhip, checkWhepOffer, checkWhipOffer, sessionLocation } from '../protocols/webrtc/whip-whep-signal.js';
import type { AccessPolicy, Decision, ServerState } from './access-policy.js';
import type { AuthQuery, AuthVerdict } from './auth-hook.js';
import type { OfferRequest, SessionRequest, SignalResult } from './http-server.js';
import { bearerToken } from './secrets.js';
import type { StreamLauncher } from './stream-launcher.js';
import type { StreamRegistry } from './stream-registry.js';

export interface WhipWhepHandlerParts {
  policy: AccessPolicy;
  registry: StreamRegistry<LiveStream, WhepViewer>;
  launcher: StreamLauncher;
  /** The server's state now, for the policy. */
  state: () => ServerState;
  /** The external auth hook's verdict (everyone is allowed when there is none). */
  askHook: (query: AuthQuery) => Promise<AuthVerdict>;
  options: Pick<ServeOptions, 'publicUrl' | 'iceHosts' | 'whipIdleTimeoutMs' | 'whepConnectTimeoutMs'>;
}

/**
 * The server's answers to WHIP and WHEP requests, in the order a client
 * meets them: the policy (may this client ask at all?), the auth hook, the
 * offer itself (protocols/webrtc), then the registry (a new publisher's
 * stream is started; a viewer is handed to its stream).
 */
export class WhipWhepHandler {
  constructor(private readonly parts: WhipWhepHandlerParts) {}

  /** WHIP: a publisher's offer. WHEP: a viewer's. */
  async offer(request: OfferRequest): Promise<SignalResult> {
    const { policy, state } = this.parts;
    const token = bearerToken(request.authorization);
    const whip = request.protocol === 'whip';
    // Who may ask is settled before the offer is even parsed.
    const allowed = whip ? policy.publish('whip', request.key, token, state()) : policy.view(request.key, token, state());
    if (!allowed.ok) return refused(allowed);
    const verdict = await this.parts.askHook({
      action: whip ? 'publish' : 'read',
      protocol: request.protocol,
      key: request.key,
      token,
      ip: request.remoteAddress,
      ...(request.variant ? { variant: request.variant } : {}),
    });
    if (!verdict.allowed) return { status: verdict.status, error: verdict.reason };
    const still = policy.stillAccepting(state());
    if (!still.ok) return refused(still);
    const parsed = parseOffer(request.sdp);
    if (!parsed.ok) return { status: 400, error: parsed.reason };
    return whip ? this.publish(request, parsed.offer) : this.play(request, parsed.offer);
  }

  /** `DELETE` on a WHIP or WHEP session resource. */
  endSession(request: SessionRequest): SignalResult {
    const { policy, registry } = this.parts;
    const token = bearerToken(request.authorization);
    const allowed = request.protocol === 'whip' ? policy.endPublish(request.key, token) : policy.endView(request.key, token);
    if (!allowed.ok) return refused(allowed);
    const session = registry.session(request.protocol, request.key, request.id);
    if (!session) return { status: 404, error: 'no such session' };
    session.close('deleted');
    return { status: 200 };
  }

  private async publish(request: OfferRequest, offer: ParsedOffer): Promise<SignalResult> {
    const { policy, registry, launcher, state, options } = this.parts;
    const { key } = request;
    const checked = checkWhipOffer(offer);
    if ('error' in checked) return checked;
    const free = policy.keyFree(key, state());
    if (!free.ok) return refused(free);
    // Claimed while ICE gathers, so a second publisher racing this one gets 409.
    registry.publisherJoined(key);
    const ids = launcher.identity(key);
    const answered = await answerWhip(request.sdp, checked, {
      name: `whip '${key}'`,
      logger: ids.log,
      idleTimeoutMs: options.whipIdleTimeoutMs,
      ...(options.iceHosts ? { hostAddresses: options.iceHosts } : {}),
    });
    if ('error' in answered) {
      registry.publisherLeft(key);
      return answered;
    }
    const { session, answer } = answered;
    // werift can close a peer while answering it (it did for an offer without a=ice-pwd); its 'end' is past.
    if (session.ended) {
      registry.publisherLeft(key);
      return { status: 400, error: 'cannot answer the offer: the peer connection closed while it was answered' };
    }
    const still = policy.stillAccepting(state());
    if (!still.ok) {
      session.close('server closed');
      registry.publisherLeft(key);
      return refused(still);
    }
    registry.indexPublisher(key, session);
    session.on('end', (reason) => {
      registry.publisherLeft(key);
      ids.log.info(`stream '${key}' WHIP publisher left: ${reason}`);
    });
    // The stream's input owns the session from here: stopping the stream hangs it up.
    launcher.start(key, whipInput(session), `WHIP (${session.codec})`, ids);
    return { status: 201, sdp: answer, location: sessionLocation(options.publicUrl ?? '', 'whip', key, session.id) };
  }

  private async play(request: OfferRequest, offer: ParsedOffer): Promise<SignalResult> {
    const { policy, registry, options } = this.parts;
    const { key } = request;
    const room = policy.viewerRoom(registry.viewerCount(key));
    if (!room.ok) return refused(room);
    const stream = registry.get(key);
    if (!stream || stream.finished) return { status: 404, error: stream ? 'this stream has ended' : 'no such stream: nothing is published on this key' };
    const checked = checkWhepOffer(offer, stream, request.variant);
    if ('error' in checked) return checked;
    const answered = await answerWhep(request.sdp, checked, stream, {
      name: `whep '${key}'${checked.original ? ' (original)' : ''}`,
      ...(options.iceHosts ? { hostAddresses: options.iceHosts } : {}),
      ...(options.whepConnectTimeoutMs !== undefined ? { connectTimeoutMs: options.whepConnectTimeoutMs } : {}),
    });
    if ('error' in answered) return answered;
    const { viewer, answer } = answered;
    // werift can close a peer while answering it (it did for an offer without a=ice-pwd): nothing to hand on.
    if (viewer.ended) return { status: 400, error: 'cannot answer the offer: the peer connection closed while it was answered' };
    viewer.on('end', (reason) => stream.logger.info(`stream '${key}' WHEP viewer left: ${reason}`));
    registry.addViewer(stream, viewer, checked.original);
    return { status: 201, sdp: answer, location: sessionLocation(options.publicUrl ?? '', 'whep', key, viewer.id) };
  }
}

function refused(decision: Decision & { ok: false }): SignalResult {
  return { status: decision.status, error: decision.reason };
}
