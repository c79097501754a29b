import { Decoder, Demuxer } from 'node-av/api';
import { Frame, SoftwareScaleContext } from 'node-av/lib';
import { SWS_ACCURATE_RND, SWS_BILINEAR, type AVPixelFormat } from 'node-av/constants';
import { describeFfmpegError } from '../base/ffmpeg-log.js';
import { InputError } from '../base/errors.js';

/**
 * Decodes a still image (PNG, JPEG, ...) to a frame, in its own pixel format
 * or converted to `format` by swscale. The caller owns the frame.
 */
export async function readStillImage(path: string, format?: AVPixelFormat): Promise<Frame> {
  const frame = await decodeStill(path);
  if (format === undefined || frame.format === format) return frame;
  const converted = new Frame();
  converted.alloc();
  converted.width = frame.width;
  converted.height = frame.height;
  converted.format = format;
  converted.allocBuffer();
  const sws = new SoftwareScaleContext();
  try {
    sws.getContext(frame.width, frame.height, frame.format as AVPixelFormat, frame.width, frame.height, format, (SWS_BILINEAR | SWS_ACCURATE_RND) as never);
    await sws.scaleFrame(converted, frame);
  } finally {
    sws.freeContext();
    frame.free();
  }
  return converted;
}

async function decodeStill(path: string): Promise<Frame> {
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
