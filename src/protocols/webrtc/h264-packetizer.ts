/**
 * H.264 access units (Annex-B, as x264 writes them) to RTP payloads per
 * RFC 6184, non-interleaved mode: a NAL unit that fits goes whole, a bigger
 * one is cut into FU-A fragments. Pure, so it is tested against werift's
 * depacketizer without a network.
 */

import { NAL_AUD, NAL_IDR, NAL_SPS, nalType, splitAnnexB } from '../../base/h264.js';

const FU_A = 28;

/** Payload bytes per RTP packet: well under any path MTU once SRTP, UDP and IP headers are added. */
export const DEFAULT_RTP_PAYLOAD = 1100;

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
