import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';

/** A 64x32 yuv420p frame filled with one luma value (chroma neutral), at `pts`; the caller frees it. */
export function flatFrame(pts: bigint, luma: number): Frame {
  const f = new Frame();
  f.alloc();
  f.width = 64;
  f.height = 32;
  f.format = AV_PIX_FMT_YUV420P;
  f.allocBuffer();
  f.data![0]!.fill(luma);
  f.data![1]!.fill(128);
  f.data![2]!.fill(128);
  f.pts = pts;
  return f;
}
