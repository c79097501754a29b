import { Packet, Rational } from 'node-av/lib';
import { AV_PKT_FLAG_KEY } from 'node-av/constants';

/**
 * A packet made from a payload that arrived outside FFmpeg (an RTP frame, an
 * FLV tag), for sources without a demuxer. The caller frees it.
 */
export function mediaPacket(data: Buffer, at: { pts: bigint; dts?: bigint; streamIndex: number; timeBase: number; key: boolean }): Packet {
  const packet = new Packet();
  packet.alloc();
  packet.data = data;
  packet.pts = at.pts;
  packet.dts = at.dts ?? at.pts;
  packet.streamIndex = at.streamIndex;
  packet.timeBase = new Rational(1, at.timeBase);
  if (at.key) packet.flags = AV_PKT_FLAG_KEY;
  return packet;
}
