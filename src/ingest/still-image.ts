import { Decoder, Demuxer } from 'node-av/api';
import type { Frame } from 'node-av/lib';
import { describeFfmpegError } from '../ffmpeg-log.js';
import { InputError } from './file-source.js';

/** Decodes a still image (PNG, JPEG, ...) to a frame in its native pixel format. The caller owns the frame. */
export async function readStillImage(path: string): Promise<Frame> {
  let demuxer: Demuxer;
  try {
    demuxer = await Demuxer.open(path);
  } catch (err) {
    throw new InputError(`cannot read image ${path}: ${await describeFfmpegError(err)}`);
  }
  try {
    const stream = demuxer.video();
    if (!stream) throw new InputError(`${path} holds no image`);
    using decoder = await Decoder.create(stream);
    for await (const packet of demuxer.packets(stream.index)) {
      if (!packet) break;
      const frames = await decoder.decodeAll(packet);
      packet.free();
      const [frame, ...rest] = frames;
      for (const extra of rest) extra.free();
      if (frame) return frame;
    }
    const [frame] = await decoder.decodeAll(null);
    if (!frame) throw new InputError(`cannot decode image ${path}`);
    return frame;
  } finally {
    await demuxer.close();
  }
}
