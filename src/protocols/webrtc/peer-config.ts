import { Socket } from 'node:dgram';
import { type RTCPeerConnection, RTCRtpCodecParameters, useAbsSendTime, useNACK, usePLI, useSdesMid } from 'werift';
import type { VideoCodecName } from './sdp-offer.js';

export interface PeerNetworkOptions {
  /**
   * Extra addresses to offer as ICE host candidates. Loopback is skipped by
   * werift's interface scan, so a server on 127.0.0.1 (the tests, a
   * one-machine setup) must name it here.
   */
  hostAddresses?: string[];
}

/**
 * werift settings shared by WHIP and WHEP peers.
 *
 * - Only the codec already chosen from the offer (see `chooseVideoCodec`), so
 *   werift cannot pick another; Opus for audio so an offer with a microphone
 *   still negotiates (its packets are not used).
 * - No transport-wide congestion control header: with it Chromium's
 *   bandwidth estimate collapsed on werift's feedback and it cut the
 *   resolution and frame rate. NACK and PLI stay.
 * - No STUN servers and no IPv6: host candidates only, which is what a
 *   server on a reachable address (or loopback) needs.
 */
export function peerConfig(codec: VideoCodecName, options: PeerNetworkOptions = {}): ConstructorParameters<typeof RTCPeerConnection>[0] {
  const feedback = [useNACK(), usePLI()];
  const video =
    codec === 'H264'
      ? new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: feedback })
      : new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: feedback });
  return {
    codecs: {
      video: [video],
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
    headerExtensions: { video: [useSdesMid(), useAbsSendTime()], audio: [useSdesMid()] },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: options.hostAddresses ?? ['127.0.0.1'],
  };
}

/**
 * Applies the offer and resolves with the complete answer, once ICE
 * gathering is done: WHIP and WHEP answer in one response, without trickle.
 */
export async function answerOffer(pc: RTCPeerConnection, offer: string, timeoutMs = 5000): Promise<string> {
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const answer = await pc.createAnswer();
  const gathered = pc.iceGatheringState === 'complete' ? Promise.resolve() : pc.iceGatheringStateChange.watch((state) => state === 'complete', timeoutMs);
  // When setLocalDescription throws (a malformed offer can make it), nobody awaits
  // `gathered`: its timeout would be an unhandled rejection, which ends the process.
  gathered.catch(() => undefined);
  await pc.setLocalDescription(answer);
  await gathered;
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new Error('no local description after ICE gathering');
  return sdp;
}

/**
 * Asks for `bytes` of kernel receive buffer on every UDP socket the peer
 * gathered (the kernel caps it at `net.core.rmem_max`), and returns the
 * sizes the sockets then have. A publisher that does not pace its packets
 * sends a 720p keyframe as one burst of ~150 RTP packets, which overflowed
 * the default 208 KiB buffer while the event loop was busy (measured with
 * the latency benchmark's publisher before it paced). werift does not
 * expose socket options, so this reaches its sockets through its ICE
 * internals; a werift release that moves them makes it return [] (no
 * sockets touched), never throw.
 */
export function enlargeReceiveBuffers(pc: RTCPeerConnection, bytes: number): number[] {
  const sizes: number[] = [];
  for (const transport of pc.iceTransports) {
    const protocols = (transport.connection as unknown as { protocols?: { transport?: { socket?: unknown } }[] }).protocols ?? [];
    for (const protocol of protocols) {
      const socket = protocol.transport?.socket;
      if (!(socket instanceof Socket)) continue;
      try {
        socket.setRecvBufferSize(bytes);
        sizes.push(socket.getRecvBufferSize());
      } catch {
        // Not bound (yet) or already closed: nothing to enlarge.
      }
    }
  }
  return sizes;
}
