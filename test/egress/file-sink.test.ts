import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import { FileSink } from '../../src/egress/file-sink.js';
import { FOOTAGE, probe, runCli, streamMd5, tempDir, videoStream } from '../helpers.js';

function audioPackets(file: string): number {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'json', file], { encoding: 'utf8' });
  return Number(JSON.parse(out).streams[0].nb_read_packets);
}

// Audio copied out of MP4 carries MP4's codec tag; each container must get a tag it accepts.
for (const ext of ['mkv', 'mov', 'ts', 'flv']) {
  test(`MP4 input with AAC → .${ext}: video at 2x, audio copied bit for bit`, async (t) => {
    const input = join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4');
    const out = join(tempDir(t), `out.${ext}`);
    const run = await runCli(['convert', input, out, '--interp', 'dup']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /audio copy/);
    assert.equal(Number(videoStream(out).nb_read_frames), 62);
    assert.equal(probe(out).streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
    if (ext === 'ts') {
      // MPEG-TS frames AAC with ADTS headers, so the packet bytes differ; the audio frames must not.
      assert.equal(audioPackets(out), audioPackets(input));
    } else {
      assert.equal(streamMd5(out, '0:a'), streamMd5(input, '0:a'));
    }
  });
}

test('a closed file sink leaves no descriptor open, and its file is complete', async (t) => {
  const dir = tempDir(t);
  const descriptors = () => readdirSync('/proc/self/fd').length;
  const write = async (path: string) => {
    const sink = await FileSink.open({ path });
    for (let i = 0; i < 3; i++) {
      const frame = new Frame();
      frame.alloc();
      Object.assign(frame, { width: 64, height: 64, format: AV_PIX_FMT_YUV420P, pts: BigInt(i), timeBase: { num: 1, den: 30 } });
      frame.allocBuffer();
      await sink.writeVideo(frame);
      frame.free();
    }
    await sink.close();
  };
  await write(join(dir, 'warm.ts')); // node-av and FFmpeg open what they keep for the process on first use
  const before = descriptors();
  for (let i = 0; i < 5; i++) await write(join(dir, `out${i}.ts`));
  // Five outputs closed: node-av's own close left each file open until the process ended (src/egress/close-muxer.ts).
  assert.equal(descriptors(), before);
  assert.equal(Number(videoStream(join(dir, 'out4.ts')).nb_read_frames), 3, 'the trailer was written and every frame reached the file');
});
