import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';

/**
 * A real WebRTC offer made by a werift peer in this process (what a WHIP
 * or WHEP client would POST), with host candidates on 127.0.0.1. The peer
 * is returned too, to finish the handshake or to vanish.
 */
export async function makeOffer(direction: 'sendonly' | 'recvonly', codecs: { mimeType: string; parameters?: string }[] = [{ mimeType: 'video/VP8' }]) {
  const pc = new RTCPeerConnection({
    codecs: { video: codecs.map((c) => new RTCRtpCodecParameters({ mimeType: c.mimeType, clockRate: 90000, parameters: c.parameters })) },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
  pc.addTransceiver('video', { direction });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5000);
  return { pc, sdp: pc.localDescription!.sdp };
}

export async function postOffer(url: string, sdp: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body: sdp });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, error: res.headers.get('content-type') === 'application/json' ? (JSON.parse(text) as { error?: string }).error : undefined };
}
