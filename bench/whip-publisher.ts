/**
 * A WHIP publisher for bench/latency.ts: a werift peer in this process
 * sends the stamped clip's H.264 frames as RTP (RFC 6184, the server's own
 * packetizer), each at its time (frame n at start + n/30 s), as a browser
 * or OBS publishing over WHIP would, paced in bursts of 16 packets.
 * `sent[n]` is when frame n's packets were all handed to the peer.
 */
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import { accessUnitNals, packetizeH264 } from '../src/protocols/webrtc/h264-packetizer.js';
import { parameterSets } from '../src/base/h264.js';
import { annexBFromAvcc } from '../src/base/avcc.js';

/** FLV video tags (11-byte header, data, 4-byte size) → H.264 access units; the head's sequence header → SPS and PPS. */
export function h264FromFlv(clip: { head: Buffer; frames: Buffer[] }): { parameterSets: Buffer[]; frames: { data: Buffer; keyframe: boolean }[] } {
  let avcC: Buffer | null = null;
  const head = clip.head;
  for (let at = head.readUInt32BE(5) + 4; at + 11 <= head.length; ) {
    const size = head.readUIntBE(at + 1, 3);
    // Video tag, AVC sequence header (packet type 0): the avcC record follows 5 bytes in.
    if (head[at] === 9 && head[at + 12] === 0) avcC = head.subarray(at + 16, at + 11 + size);
    at += 11 + size + 4;
  }
  const frames = clip.frames.map((tag) => {
    const size = tag.readUIntBE(1, 3);
    return { data: annexBFromAvcc(tag.subarray(16, 11 + size)), keyframe: tag[11]! >> 4 === 1 };
  });
  return { parameterSets: parameterSets(avcC), frames };
}

export function publishWhip(url: string, clip: { head: Buffer; frames: Buffer[] }, fps: number): { sent: number[]; done: Promise<void> } {
  const { parameterSets: sets, frames } = h264FromFlv(clip);
  const sent: number[] = [];
  const done = (async () => {
    const pc = new RTCPeerConnection({
      codecs: { video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' })] },
      iceServers: [],
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
    });
    const track = new MediaStreamTrack({ kind: 'video' });
    pc.addTransceiver(track, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5000);
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    if (res.status !== 201) throw new Error(`WHIP: ${res.status} ${await res.text()}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    if (pc.connectionState !== 'connected') await pc.connectionStateChange.watch((state) => state === 'connected', 10_000);
    let sequence = Math.floor(Math.random() * 0x10000);
    const start = performance.now() + 100;
    for (const [n, frame] of frames.entries()) {
      const wait = start + (n * 1000) / fps - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const payloads = packetizeH264(accessUnitNals(frame.data, sets));
      const timestamp = (n * 90000) / fps;
      for (const [i, payload] of payloads.entries()) {
        track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: sequence, timestamp, marker: i === payloads.length - 1 }), payload));
        sequence = (sequence + 1) & 0xffff;
        // Paced, as browsers and OBS send: a 720p keyframe (~150 packets) sent in one burst overflows
        // the server's default 208 KiB UDP receive buffer, and every keyframe then arrives broken.
        if (i % 16 === 15) await new Promise((r) => setTimeout(r, 1));
      }
      sent[n] = performance.now();
    }
    // The session resource: DELETE ends the stream, as a WHIP client leaving does. Best effort: a server
    // that has already ended the stream refuses it, and the publisher is leaving either way.
    const location = res.headers.get('location');
    if (location) await fetch(new URL(location, url), { method: 'DELETE' }).catch(() => {});
    await pc.close();
  })();
  return { sent, done };
}
