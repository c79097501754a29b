import { DEFAULT_RTP_PAYLOAD } from './h264-packetizer.js';

/**
 * One VP8 frame to RTP payloads per RFC 7741, the simplest form: a one-byte
 * payload descriptor (no extensions, partition 0), with the start bit on
 * the first packet only. The receiver finds keyframes in the VP8 header
 * itself. Pure, so it is tested against werift's depacketizer without a network.
 */
export function packetizeVp8(frame: Buffer, maxPayload = DEFAULT_RTP_PAYLOAD): Buffer[] {
  const chunk = maxPayload - 1;
  const payloads: Buffer[] = [];
  for (let at = 0; at < frame.length; at += chunk) {
    payloads.push(Buffer.concat([Buffer.from([at === 0 ? 0x10 : 0x00]), frame.subarray(at, at + chunk)]));
  }
  return payloads;
}
