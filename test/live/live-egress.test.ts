import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rational } from 'node-av/lib';
import { LiveEgress, type LiveEgressOptions } from '../../src/live/live-egress.js';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { FileSource } from '../../src/ingest/file-source.js';
import { tempDir, videoStream } from '../helpers.js';

captureFfmpegLog();

/**
 * Encodes a lavfi source (about 10 test-pattern frames by default) through a LiveEgress with `preset`,
 * recorded; returns the recording's H.264 elementary stream.
 */
async function record(dir: string, preset: LiveEgressOptions['preset'], more: { bitrateKbps?: number; source?: string; name?: string; rtpClock?: boolean } = {}): Promise<Buffer> {
  const name = more.name ?? (typeof preset === 'string' ? preset : preset ? 'chosen' : 'default');
  const file = join(dir, `${name}.ts`);
  const egress = await LiveEgress.open({ dir: join(dir, name), fps: 30, record: file, ...(preset ? { preset } : {}), ...(more.bitrateKbps !== undefined ? { bitrateKbps: more.bitrateKbps } : {}) });
  await using source = await FileSource.open(more.source ?? 'testsrc2=size=160x120:rate=30:duration=0.34', { format: 'lavfi' });
  let i = 0;
  for await (const item of source.read()) {
    if (item.kind !== 'video') continue;
    if (more.rtpClock) {
      // As WebRTC frames come: on the 90 kHz clock, with no declared rate.
      item.frame.timeBase = new Rational(1, 90000);
      item.frame.pts = BigInt(i * 3000);
    }
    await egress.writeVideo(item.frame, i++ / 30);
    item.frame.free();
  }
  await egress.close();
  assert.equal(Number(videoStream(file).nb_read_frames), i);
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-c', 'copy', '-f', 'h264', '-'], { maxBuffer: 1 << 24 });
}

/** The encoder settings libx264 writes into the stream (an SEI). */
function settings(bytes: Buffer): string {
  return /x264 - core [^\0]*/.exec(bytes.toString('latin1'))?.[0] ?? '';
}

test('the live output is encoded with the configured libx264 preset (veryfast by default)', async (t) => {
  const dir = tempDir(t);
  // The presets differ in, e.g., the entropy coder.
  const byDefault = settings(await record(dir, undefined));
  const ultrafast = settings(await record(dir, 'ultrafast'));
  assert.match(byDefault, /cabac=1 .*subme=2 /);
  assert.match(ultrafast, /cabac=0 .*subme=0 /);
});

test('a preset chosen from the first frame is the one the encoder runs, and the egress says which and why', async (t) => {
  const dir = tempDir(t);
  const asked: number[][] = [];
  const choose = (width: number, height: number, fps: number) => (asked.push([width, height, fps]), { preset: 'ultrafast' as const, reason: 'a test' });
  const file = join(dir, 'chosen.ts');
  const egress = await LiveEgress.open({ dir: join(dir, 'chosen'), fps: 30, record: file, preset: choose });
  assert.equal(egress.encoderPreset, undefined, 'nothing is chosen before the first frame');
  await using source = await FileSource.open('testsrc2=size=160x120:rate=30:duration=0.2', { format: 'lavfi' });
  let i = 0;
  for await (const item of source.read()) {
    if (item.kind !== 'video') continue;
    await egress.writeVideo(item.frame, i++ / 30);
    item.frame.free();
  }
  await egress.close();
  assert.deepEqual(asked, [[160, 120, 30]], 'asked once, with the frame size and the output rate');
  assert.deepEqual(egress.encoderPreset, { preset: 'ultrafast', reason: 'a test' });
  const bytes = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-c', 'copy', '-f', 'h264', '-'], { maxBuffer: 1 << 24 });
  assert.match(settings(bytes), /cabac=0 .*subme=0 /, 'the stream is ultrafast, not the default veryfast');
});

test('the live output bitrate is capped: 0.1 bit per pixel and frame by default, as configured, or not at all', async (t) => {
  const dir = tempDir(t);
  // 160x120 at 30 fps: 0.1 * 160 * 120 * 30 = 57.6 kbit/s, with a half-second buffer.
  assert.match(settings(await record(dir, 'ultrafast', { name: 'auto' })), / rc=crf .*crf=23\.0 .*vbv_maxrate=58 vbv_bufsize=29 /);
  assert.doesNotMatch(settings(await record(dir, 'ultrafast', { name: 'uncapped', bitrateKbps: 0 })), /vbv_maxrate/);
  // Noise is what a cap is for: uncapped it takes several times the cap, capped it keeps to it.
  const noise = 'testsrc2=size=320x240:rate=30:duration=2,noise=alls=60:allf=t';
  const kbps = (bytes: Buffer) => (bytes.length * 8) / 2 / 1000;
  const capped = kbps(await record(dir, 'ultrafast', { name: 'capped', bitrateKbps: 400, source: noise }));
  const free = kbps(await record(dir, 'ultrafast', { name: 'free', bitrateKbps: 0, source: noise }));
  t.diagnostic(`noise at 320x240: ${capped.toFixed(0)} kbit/s under a 400 kbit/s cap, ${free.toFixed(0)} without`);
  // The VBV buffer (half a second: 200 kbit) may be spent on top of the rate over the 2 s.
  assert.ok(capped < (400 + 200 / 2) * 1.05, `${capped} kbit/s`);
  assert.ok(free > 3 * 400, `${free} kbit/s`);
  // Frames on the 90 kHz clock (WebRTC) are not starved: x264 plans with the nominal rate, not 90000 fps.
  const rtp = kbps(await record(dir, 'ultrafast', { name: 'rtp', bitrateKbps: 400, source: noise, rtpClock: true }));
  t.diagnostic(`the same on the 90 kHz clock: ${rtp.toFixed(0)} kbit/s`);
  assert.ok(rtp > 400 * 0.6 && rtp < (400 + 200 / 2) * 1.05, `${rtp} kbit/s`);
});
