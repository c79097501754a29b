import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { RtpFrameAssembler } from '../../src/protocols/webrtc/rtp-frame-assembler.js';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { receivedFps, watch, type WereiftViewer } from '../reliability/werift-viewer.js';

/**
 * The original of a source WebRTC cannot take as it is (the built-in test
 * pattern: raw frames, no codec at all) is encoded once as H.264 for its
 * viewers, and only while it has some.
 */

/** A viewer of `key`'s original whose frames are reassembled (werift's depacketizer) into one Annex-B stream. */
async function watchDecodable(http: string, key: string): Promise<{ viewer: WereiftViewer; annexB: () => Buffer; keyframes: () => number }> {
  const assembler = new RtpFrameAssembler('H264');
  const frames: Buffer[] = [];
  let keyframes = 0;
  const viewer = await watch(http, `${key}/original`, {
    onRtp: (rtp) => {
      for (const out of assembler.processInput(rtp)) {
        if (!('frame' in out)) continue;
        frames.push(out.frame.data);
        if (out.frame.keyframe) keyframes++;
      }
    },
  });
  return { viewer, annexB: () => Buffer.concat(frames), keyframes: () => keyframes };
}

/** What FFmpeg's H.264 decoder makes of an Annex-B stream: frames decoded, their size, and any error it printed. */
function decode(file: string): { frames: number; width: number; height: number; errors: string } {
  const probe = spawnSync('ffprobe', ['-v', 'error', '-f', 'h264', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
  const stream = (JSON.parse(probe.stdout) as { streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[] }).streams[0]!;
  assert.equal(stream.codec_name, 'h264');
  return { frames: Number(stream.nb_read_frames), width: stream.width, height: stream.height, errors: probe.stderr.trim() };
}

const find = (streams: LiveStreamStats[]) => streams.find((s) => s.key === 'test');

test('the test pattern\'s original is encoded as H.264 for WHEP viewers: decodable, at the input rate, and only while one watches', async (t) => {
  const { http, streams } = await startServer(t, { testPattern: 'test' });
  const idle = await until('the test pattern to be live', 30_000, async () => {
    const s = find(await streams());
    return s?.state === 'live' && s.framesIn > 30 ? s : undefined;
  });
  // Nobody watches the original yet: nothing is encoded for it.
  assert.deepEqual([idle.original, idle.originalEncoder, idle.originalFramesEncoded], ['encoded', 'idle', 0]);

  const first = await watchDecodable(http, 'test');
  t.after(() => first.viewer.close());
  await until('the original to arrive', 10_000, async () => (first.viewer.frames() > 10 ? true : undefined));
  const fps = await receivedFps(first.viewer, 2000);
  assert.ok(fps > 25 && fps < 35, `the original arrived at ${fps.toFixed(1)} fps, want the input's 30`);
  const watched = find(await streams())!;
  assert.deepEqual([watched.original, watched.originalEncoder, watched.originalViewers], ['encoded', 'encoding', 1]);

  // A second viewer joins mid-GOP (keyframes come every 2 s by themselves): its first frame is an IDR made for it as it connects.
  const second = await watchDecodable(http, 'test');
  const joined = performance.now();
  t.after(() => second.viewer.close());
  const firstKeyframeMs = await until('a keyframe for the second viewer', 5000, async () => (second.keyframes() > 0 ? performance.now() - joined : undefined));

  await first.viewer.close();
  await second.viewer.close();
  const file = join(tempDir(t), 'original.h264');
  writeFileSync(file, first.annexB());
  const decoded = decode(file);
  assert.equal(decoded.errors, '', 'the original decodes without errors');
  assert.deepEqual([decoded.width, decoded.height], [1280, 720]);
  assert.ok(decoded.frames >= 60, `${decoded.frames} frames decoded, want the 2 s and more that the viewer received`);
  // Joining needs ICE and DTLS first (a few hundred ms on loopback); without a forced IDR it would wait up to the 2 s GOP.
  assert.ok(firstKeyframeMs < 1000, `the second viewer's first keyframe came ${firstKeyframeMs.toFixed(0)} ms after its answer`);

  // Both gone: the encoder stops, and stays stopped.
  const stopped = await until('the encoder to stop', 5000, async () => {
    const s = find(await streams());
    return s?.originalEncoder === 'idle' && s.originalViewers === 0 ? s : undefined;
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const later = find(await streams())!;
  assert.equal(later.originalFramesEncoded, stopped.originalFramesEncoded, 'no frame is encoded for the original without a viewer');
  assert.ok(later.framesIn > stopped.framesIn, 'the stream itself goes on');

  // And starts again for the next viewer.
  const third = await watchDecodable(http, 'test');
  t.after(() => third.viewer.close());
  await until('the original to arrive again', 10_000, async () => (third.keyframes() > 0 && third.viewer.frames() > 5 ? true : undefined));
  assert.equal(find(await streams())!.originalEncoder, 'encoding');
});

/** A free UDP port on 127.0.0.1 (asked of the kernel, then released). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

test('a pulled MPEG-2 source\'s original is encoded as H.264 for WHEP viewers, where it was refused with 406', async (t) => {
  const port = await freeUdpPort();
  const { http, streams } = await startServer(t, { pull: { cam: `udp://127.0.0.1:${port}` } });
  const args = ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-t', '20', '-c:v', 'mpeg2video', '-g', '30', '-bf', '0', '-f', 'mpegts', `udp://127.0.0.1:${port}?pkt_size=1316`];
  const sender = spawn('ffmpeg', args, { stdio: 'ignore' });
  t.after(() => sender.kill('SIGKILL'));
  await until('the MPEG-2 pull to be live', 20_000, async () => {
    const s = (await streams()).find((s) => s.key === 'cam');
    return s?.state === 'live' && s.framesIn > 30 ? s : undefined;
  });
  const original = await watchDecodable(http, 'cam');
  t.after(() => original.viewer.close());
  await until('the original to arrive', 10_000, async () => (original.viewer.frames() > 10 ? true : undefined));
  const fps = await receivedFps(original.viewer, 1000);
  assert.ok(fps > 24 && fps < 36, `the original at ${fps.toFixed(1)} fps, want 30`);
  const cam = (await streams()).find((s) => s.key === 'cam')!;
  assert.deepEqual([cam.codec, cam.original, cam.originalEncoder], ['mpeg2video', 'encoded', 'encoding']);
  await original.viewer.close();
  const file = join(tempDir(t), 'original.h264');
  writeFileSync(file, original.annexB());
  const decoded = decode(file);
  assert.equal(decoded.errors, '');
  assert.deepEqual([decoded.width, decoded.height], [320, 180]);
  assert.ok(decoded.frames >= 30, `${decoded.frames} frames decoded`);
});
