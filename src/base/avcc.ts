/**
 * H.264 as MP4 and FLV carry it (AVCC: each NAL unit behind a big-endian
 * length, usually 4 bytes) to Annex-B (each behind a start code), the form
 * the RTP packetizer reads. Pure.
 *
 * Some publishers send Annex-B in FLV: data that does not parse as AVCC
 * (its lengths do not chain exactly to the end) but starts with a start code
 * is returned as it is. Starting with a start code alone proves nothing: a
 * first NAL unit of 256–511 bytes has the length 00 00 01 xx, which reads as
 * a 3-byte start code. A length that runs past the end ends the conversion
 * there.
 */
export function annexBFromAvcc(data: Buffer, lengthSize = 4): Buffer {
  if (!isAvcc(data, lengthSize) && startsWithStartCode(data)) return data;
  const parts: Buffer[] = [];
  const startCode = Buffer.from([0, 0, 0, 1]);
  let at = 0;
  while (at + lengthSize <= data.length) {
    const length = data.readUIntBE(at, lengthSize);
    at += lengthSize;
    if (length === 0 || at + length > data.length) break;
    parts.push(startCode, data.subarray(at, at + length));
    at += length;
  }
  return Buffer.concat(parts);
}

/** Whether the lengths chain from the start exactly to the end, each framing a NAL unit with its forbidden bit clear. */
function isAvcc(data: Buffer, lengthSize: number): boolean {
  let at = 0;
  while (at + lengthSize <= data.length) {
    const length = data.readUIntBE(at, lengthSize);
    at += lengthSize;
    if (length === 0 || at + length > data.length || (data[at]! & 0x80) !== 0) return false;
    at += length;
  }
  return at === data.length && data.length > 0;
}

function startsWithStartCode(data: Buffer): boolean {
  return data.length >= 4 && data[0] === 0 && data[1] === 0 && (data[2] === 1 || (data[2] === 0 && data[3] === 1));
}
