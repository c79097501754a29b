import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from 'werift';

/**
 * A WHEP viewer made of a werift peer: it POSTs a recvonly H.264 offer, takes
 * the answer and counts the video frames that arrive (distinct RTP timestamps
 * closed by a marker bit). No decoder: the reliability tests and benchmarks
 * want rates and liveness, not pictures, and many viewers must fit on 2 cores.
 */
export interface WereiftViewer {
  location: string;
  /** Frames completed so far (a marker bit seen for a new RTP timestamp). */
  frames(): number;
  /** RTP packets received so far. */
  packets(): number;
  /** Stops reading: incoming packets are no longer counted, nor answered with RTCP (see `stall`). */
  stall(): void;
  /** Ends the session with a DELETE, then closes the peer. */
  close(): Promise<void>;
  /** Closes the peer without telling the server (the viewer vanished). */
  vanish(): Promise<void>;
  pc: RTCPeerConnection;
}

export const H264 = { mimeType: 'video/H264', parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' };

export interface WatchOptions {
  headers?: Record<string, string>;
  rewriteOffer?: (sdp: string) => string;
  rewriteAnswer?: (sdp: string) => string;
  /** Sees every video RTP packet received (to reassemble and decode the frames). */
  onRtp?: (rtp: RtpPacket) => void;
}

export async function watch(http: string, key: string, options: WatchOptions = {}): Promise<WereiftViewer> {
  const pc = new RTCPeerConnection({
    codecs: { video: [new RTCRtpCodecParameters({ mimeType: H264.mimeType, clockRate: 90000, parameters: H264.parameters })] },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
  let frames = 0;
  let packets = 0;
  let lastTimestamp = -1;
  let stalled = false;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      if (stalled) return;
      packets++;
      options.onRtp?.(rtp);
      if (rtp.header.marker && rtp.header.timestamp !== lastTimestamp) {
        lastTimestamp = rtp.header.timestamp;
        frames++;
      }
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5000);
  const url = `${http}/whep/${key}`;
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...options.headers }, body: options.rewriteOffer ? options.rewriteOffer(pc.localDescription!.sdp) : pc.localDescription!.sdp });
  const text = await res.text();
  if (res.status !== 201) {
    await pc.close();
    throw new Error(`WHEP ${key}: ${res.status} ${text}`);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: options.rewriteAnswer ? options.rewriteAnswer(text) : text });
  const location = new URL(res.headers.get('location')!, http).toString();
  return {
    location,
    pc,
    frames: () => frames,
    packets: () => packets,
    stall() {
      stalled = true;
      // Stop answering too: no RTCP receiver reports leave this peer (werift restarts its
      // report loop on every packet, so the loop itself is replaced).
      for (const transceiver of pc.getTransceivers()) {
        const receiver = transceiver.receiver as unknown as { rtcpRunning: boolean; runRtcp: () => Promise<void> };
        receiver.runRtcp = async () => undefined;
        receiver.rtcpRunning = false;
      }
    },
    async close() {
      await fetch(location, { method: 'DELETE', headers: options.headers }).catch(() => undefined);
      await pc.close();
    },
    async vanish() {
      await pc.close();
    },
  };
}

/** Frames per second a viewer received over `ms`. */
export async function receivedFps(viewer: WereiftViewer, ms: number): Promise<number> {
  const before = viewer.frames();
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ((viewer.frames() - before) * 1000) / (Date.now() - started);
}
