import { NAL_PPS, NAL_SPS, nalType, splitAnnexB } from './h264-packetizer.js';

/**
 * The SPS and PPS NAL units in an H.264 encoder's extradata, which is
 * either Annex-B (libx264 with a global header) or an avcC record (ISO
 * 14496-15: version 1, then length-prefixed SPS and PPS lists).
 */
export function parameterSets(extradata: Buffer | null): Buffer[] {
  if (!extradata || extradata.length < 4) return [];
  if (extradata[0] !== 1) return splitAnnexB(extradata).filter((nal) => nalType(nal) === NAL_SPS || nalType(nal) === NAL_PPS);
  const nals: Buffer[] = [];
  let at = 5;
  for (const countMask of [0x1f, 0xff]) {
    if (at >= extradata.length) break;
    const count = extradata[at]! & countMask;
    at++;
    for (let i = 0; i < count && at + 2 <= extradata.length; i++) {
      const length = extradata.readUInt16BE(at);
      at += 2;
      if (at + length > extradata.length) return nals;
      nals.push(extradata.subarray(at, at + length));
      at += length;
    }
  }
  return nals;
}
