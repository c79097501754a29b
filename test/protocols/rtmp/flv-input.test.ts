import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AvcFlvSource } from '../../../src/protocols/rtmp/avc-flv-source.js';
import { FlvSource, flvInput } from '../../../src/protocols/rtmp/flv-source.js';
import type { LiveSource } from '../../../src/ingest/live-source.js';
import { ffmpeg, tempDir } from '../../helpers.js';

interface Read {
  videoPts: bigint[];
  size: string;
  audioPackets: number;
  encoded: number;
  keyframes: number;
}

async function readAll(source: LiveSource): Promise<Read> {
  const out: Read = { videoPts: [], size: '', audioPackets: 0, encoded: 0, keyframes: 0 };
  await using _ = source;
  for await (const item of source.read()) {
    if (item.kind === 'video') {
      out.videoPts.push(item.frame.pts);
      out.size = `${item.frame.width}x${item.frame.height}`;
      item.frame.free();
    } else if (item.kind === 'audio') {
      out.audioPackets++;
      item.packet.free();
    } else {
      out.encoded++;
      if (item.keyframe) out.keyframes++;
    }
  }
  return out;
}

test('H.264 + AAC FLV is read without FFmpeg\'s demuxer, giving what the demuxer gives', async (t) => {
  const file = join(tempDir(t), 'in.flv');
  // 2 s at 30 fps with B-frames (composition times), keyframes every second, AAC at 44.1 kHz
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=2', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2', '-g', '30', '-c:a', 'aac', '-f', 'flv', file);
  const source = await flvInput(createReadStream(file)).open();
  assert.ok(source instanceof AvcFlvSource);
  assert.deepEqual(source.frameRate, { num: 30, den: 1 });
  assert.deepEqual(source.video.timeBase, { num: 1, den: 1000 });
  assert.equal(source.audio?.codecpar.sampleRate, 44100);
  assert.ok(source.parameterSets!().length >= 2, 'SPS and PPS from the avcC record');
  const own = await readAll(source);
  const reference = await readAll(await FlvSource.open(createReadStream(file)));
  assert.equal(own.videoPts.length, 60);
  assert.deepEqual(own.videoPts, reference.videoPts, 'the same frames at the same times (ms)');
  assert.equal(own.size, '320x240');
  assert.equal(own.audioPackets, reference.audioPackets);
  assert.ok(own.audioPackets >= 80, `${own.audioPackets} AAC packets for 2 s`);
  assert.deepEqual([own.encoded, own.keyframes], [60, 2], 'every picture also as received, for viewers of the original');
});

test('FLV in another codec goes to FFmpeg\'s demuxer, from its first byte', async (t) => {
  const file = join(tempDir(t), 'in.flv');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15:duration=1', '-an', '-c:v', 'flv', '-f', 'flv', file);
  const source = await flvInput(createReadStream(file)).open();
  assert.ok(source instanceof FlvSource);
  assert.equal(source.videoCodec, 'flv1');
  const read = await readAll(source);
  assert.equal(read.videoPts.length, 15);
});

test('a stream that ends before any video, or whose FFmpeg readers are all taken, fails with the reason', async (t) => {
  const dir = tempDir(t);
  const audioOnly = join(dir, 'a.flv');
  ffmpeg('-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', '-f', 'flv', audioOnly);
  await assert.rejects(flvInput(createReadStream(audioOnly), { name: 'stream x' }).open(), /stream x carries no usable video/);
  const flv1 = join(dir, 'v.flv');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15:duration=1', '-an', '-c:v', 'flv', '-f', 'flv', flv1);
  const busy = { acquire: () => 'all 3 of its readers are busy', release: () => assert.fail('nothing was taken') };
  await assert.rejects(flvInput(createReadStream(flv1), { name: 'stream y', ffmpegReaders: busy }).open(), /stream y: its video is not H\.264 \(FLV codec 2\), so FFmpeg must read it, and all 3 of its readers are busy/);
  let held = 0;
  const pool = { acquire: () => void held++, release: () => void held-- };
  const source = await flvInput(createReadStream(flv1), { ffmpegReaders: pool }).open();
  assert.equal(held, 1, 'an FFmpeg reader is held while the source lives');
  await readAll(source);
  assert.equal(held, 0, 'and given back when it is disposed');
});
