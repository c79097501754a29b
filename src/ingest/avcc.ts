/**
 * H.264 as MP4 and FLV carry it (AVCC: each NAL unit behind a big-endian
 * length, usually 4 bytes) to Annex-B (each behind a start code), the form
 * the RTP packetizer reads. Pure. Data that already starts with a start
 * code is returned as it is (some publishers send Annex-B in FLV); a
 * length that runs past the end ends the conversion there.
 */
export function annexBFromAvcc(data: Buffer, lengthSize = 4): Buffer {
  if (data.length >= 4 && data[0] === 0 && data[1] === 0 && (data[2] === 1 || (data[2] === 0 && data[3] === 1))) return data;
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
