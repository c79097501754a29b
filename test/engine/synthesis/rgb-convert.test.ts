import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { Decoder, Demuxer } from 'node-av/api';
import type { Frame } from 'node-av/lib';
import { reducedScale, RgbConverter } from '../../../src/engine/synthesis/rgb-convert.js';
import { readStillImage } from '../../../src/ingest/still-image.js';
import { EVAL, FOOTAGE } from '../../helpers.js';

async function firstFrame(file: string): Promise<Frame> {
  await using input = await Demuxer.open(file);
  const stream = input.video()!;
  using decoder = await Decoder.create(stream);
  for await (const frame of decoder.frames(input.packets(stream.index))) if (frame) return frame;
  throw new Error('no frame');
}

function psnr(a: Buffer, aStride: number, b: Buffer, bStride: number, width: number, height: number): number {
  let se = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const d = a[y * aStride + x]! - b[y * bStride + x]!;
      se += d * d;
    }
  return 10 * Math.log10((255 * 255) / (se / (width * height)));
}

test('8-bit RGB pixels become exactly k/255 in the tensor, in R,G,B plane order', async (t) => {
  const png = join(EVAL, 'middlebury_other/Urban2/frame0.png');
  const frame = await readStillImage(png);
  t.after(() => frame.free());
  await using converter = await RgbConverter.create(1);
  const image = await converter.toRgb(frame);
  const { width, height } = image;
  const rgb24 = execFileSync('ffmpeg', ['-v', 'error', '-i', png, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 26 });
  let worst = 0;
  for (let i = 0; i < width * height; i += 7) {
    for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(image.data[c * width * height + i]! * 255 - rgb24[i * 3 + c]!));
  }
  assert.ok(worst < 1e-3, `max deviation from k/255 was ${worst}`);
});

test('YUV → padded RGB → YUV round trip of real footage keeps the picture (luma > 45 dB, chroma > 38 dB)', async () => {
  const frame = await firstFrame(join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'));
  await using converter = await RgbConverter.create(32);
  const image = await converter.toRgb(frame);
  assert.equal(image.paddedWidth, 1280);
  assert.equal(image.paddedHeight, 736);
  // The padding rows are zero.
  const plane = image.paddedWidth * image.paddedHeight;
  assert.equal(image.data.subarray(plane - image.paddedWidth, plane).some((v) => v !== 0), false);
  const back = await converter.fromRgb(image, frame);
  assert.equal(back.width, 1280);
  assert.equal(back.height, 720);
  assert.equal(back.format, frame.format);
  const luma = psnr(frame.data![0]!, frame.linesize[0]!, back.data![0]!, back.linesize[0]!, 1280, 720);
  const chroma = psnr(frame.data![1]!, frame.linesize[1]!, back.data![1]!, back.linesize[1]!, 640, 360);
  assert.ok(luma > 45, `luma PSNR ${luma}`);
  assert.ok(chroma > 38, `chroma PSNR ${chroma}`);
  frame.free();
  back.free();
});

test('a pixel cap reduces large frames below the scale (720p at 1/8 for 14400 pixels) and leaves small ones at it', async (t) => {
  assert.equal(reducedScale(1280, 720, 0.25, 14400), 0.125);
  assert.equal(reducedScale(320, 240, 0.25, 14400), 0.25);
  assert.equal(reducedScale(1280, 720, 0.25), 0.25);

  await using converter = await RgbConverter.create(16, 0.25, 14400);
  const hd = await firstFrame(join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'));
  const still = await readStillImage(join(EVAL, 'middlebury_other/Urban2/frame0.png')); // 640x480
  t.after(() => {
    hd.free();
    still.free();
  });
  const a = await converter.toRgb(hd);
  assert.deepEqual([a.width, a.height, a.paddedWidth, a.paddedHeight], [160, 90, 160, 96]);
  const b = await converter.toRgb(still); // 1/4 would be 160x120 = 19200 pixels
  assert.ok(b.width * b.height <= 14400 && b.width * b.height > 14000, `${b.width}x${b.height}`);
  assert.equal(Math.round(b.width / b.height * 3), 4);
});
