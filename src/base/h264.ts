/** H.264 bitstream basics shared by ingest and egress: NAL unit types, Annex-B splitting, parameter sets. */

export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;

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
