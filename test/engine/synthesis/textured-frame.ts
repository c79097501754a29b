import { Frame } from 'node-av/lib';
import type { AVPixelFormat } from 'node-av/constants';

/** A frame whose planes carry a different smooth texture per `seed` (the caller frees it). */
export function texturedFrame(width: number, height: number, format: AVPixelFormat, seed: number): Frame {
  const f = new Frame();
  f.alloc();
  f.width = width;
  f.height = height;
  f.format = format;
  f.allocBuffer();
  f.data!.slice(0, 3).forEach((plane, p) => {
    for (let i = 0; i < plane.length; i++) plane[i] = (Math.sin(i * 0.37 + seed + p) * 0.5 + 0.5) * 255;
  });
  return f;
}
