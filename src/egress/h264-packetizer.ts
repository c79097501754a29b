/**
 * H.264 access units (Annex-B, as x264 writes them) to RTP payloads per
 * RFC 6184, non-interleaved mode: a NAL unit that fits goes whole, a bigger
 * one is cut into FU-A fragments. Pure, so it is tested against werift's
 * depacketizer without a network.
 */

export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
const FU_A = 28;

/** Payload bytes per RTP packet: well under any path MTU once SRTP, UDP and IP headers are added. */
export const DEFAULT_RTP_PAYLOAD = 1100;

/** The NAL units of an Annex-B buffer (start codes of 3 or 4 bytes), without their start codes. */
export function splitAnnexB(data: Buffer): Buffer[] {
  const starts: { at: number; length: number }[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] !== 0 || data[i + 1] !== 0) continue;
    if (data[i + 2] === 1) {
      starts.push({ at: i, length: 3 });
      i += 2;
    } else if (data[i + 2] === 0 && data[i + 3] === 1) {
      starts.push({ at: i, length: 4 });
      i += 3;
    }
  }
  const nals: Buffer[] = [];
  for (let k = 0; k < starts.length; k++) {
    const begin = starts[k]!.at + starts[k]!.length;
    const end = k + 1 < starts.length ? starts[k + 1]!.at : data.length;
    if (end > begin) nals.push(data.subarray(begin, end));
  }
  return nals;
}

export function nalType(nal: Buffer): number {
  return nal[0]! & 0x1f;
}

/**
 * The NAL units to send for one access unit: access unit delimiters dropped
 * (RTP marks frame ends itself), and `parameterSets` (SPS, PPS) put in
 * front of an IDR picture that lacks them — an encoder that keeps them in
 * its global header (as one shared with FLV does) sends them only once,
 * and a viewer joining later needs them with every keyframe.
 */
export function accessUnitNals(data: Buffer, parameterSets: Buffer[]): Buffer[] {
  const nals = splitAnnexB(data).filter((nal) => nalType(nal) !== NAL_AUD);
  const types = new Set(nals.map(nalType));
  if (types.has(NAL_IDR) && !types.has(NAL_SPS) && parameterSets.length > 0) return [...parameterSets, ...nals];
  return nals;
}

/** One access unit's RTP payloads, in order; the last one carries the marker bit. */
export function packetizeH264(nals: Buffer[], maxPayload = DEFAULT_RTP_PAYLOAD): Buffer[] {
  const payloads: Buffer[] = [];
  for (const nal of nals) {
    if (nal.length <= maxPayload) {
      payloads.push(nal);
      continue;
    }
    const indicator = (nal[0]! & 0xe0) | FU_A;
    const type = nal[0]! & 0x1f;
    const body = nal.subarray(1);
    const chunk = maxPayload - 2;
    for (let at = 0; at < body.length; at += chunk) {
      const first = at === 0;
      const last = at + chunk >= body.length;
      const header = (first ? 0x80 : 0) | (last ? 0x40 : 0) | type;
      payloads.push(Buffer.concat([Buffer.from([indicator, header]), body.subarray(at, at + chunk)]));
    }
  }
  return payloads;
}
