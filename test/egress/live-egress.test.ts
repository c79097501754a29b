import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { LiveEgress } from '../../src/egress/live-egress.js';
import type { X264Preset } from '../../src/egress/x264-presets.js';
import { captureFfmpegLog } from '../../src/ffmpeg-log.js';
import { FileSource } from '../../src/ingest/file-source.js';
import { tempDir, videoStream } from '../helpers.js';

captureFfmpegLog();

/** Encodes about 10 test-pattern frames through a LiveEgress with `preset`, recorded; returns the recording's H.264 elementary stream. */
async function record(dir: string, preset: X264Preset | undefined): Promise<Buffer> {
  const file = join(dir, `${preset ?? 'default'}.ts`);
  const egress = await LiveEgress.open({ dir: join(dir, preset ?? 'default'), fps: 30, record: file, ...(preset ? { preset } : {}) });
  await using source = await FileSource.open('testsrc2=size=160x120:rate=30:duration=0.34', { format: 'lavfi' });
  let i = 0;
  for await (const item of source.read()) {
    if (item.kind !== 'video') continue;
    await egress.writeVideo(item.frame, i++ / 30);
    item.frame.free();
  }
  await egress.close();
  assert.equal(Number(videoStream(file).nb_read_frames), i);
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-c', 'copy', '-f', 'h264', '-'], { maxBuffer: 1 << 24 });
}

test('the live output is encoded with the configured libx264 preset (veryfast by default)', async (t) => {
  const dir = tempDir(t);
  // libx264 writes its settings into the stream (an SEI); the presets differ in, e.g., the entropy coder.
  const settings = (bytes: Buffer) => /x264 - core [^\0]*/.exec(bytes.toString('latin1'))?.[0] ?? '';
  const byDefault = settings(await record(dir, undefined));
  const ultrafast = settings(await record(dir, 'ultrafast'));
  assert.match(byDefault, /cabac=1 .*subme=2 /);
  assert.match(ultrafast, /cabac=0 .*subme=0 /);
});
