import type { Decoder } from 'node-av/api';
import type { Frame, Packet } from 'node-av/lib';

const AV_NOPTS = -0x8000000000000000n;

/**
 * Decodes one packet (`null` flushes the decoder). Returns `null` when the
 * decoder rejects the packet: a damaged packet costs its frames, not the
 * stream, so callers count it and go on. Frames without a pts get the
 * decoder's best guess (raw streams, some AVIs).
 */
export async function decodePacket(decoder: Decoder, packet: Packet | null): Promise<Frame[] | null> {
  let frames: Frame[];
  try {
    frames = await decoder.decodeAll(packet);
  } catch {
    return null;
  }
  for (const frame of frames) if (frame.pts === AV_NOPTS) frame.pts = frame.bestEffortTimestamp;
  return frames;
}
