import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Encoder } from 'node-av/api';
import { FF_ENCODER_LIBX264 } from 'node-av/constants';
import { Recording } from '../../src/egress/recording.js';
import { FileSource } from '../../src/ingest/file-source.js';
import { tempDir, videoStream } from '../helpers.js';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';

captureFfmpegLog();

/** Encodes `frames` frames of FFmpeg's test pattern and hands each packet to `take`. */
async function encodeTestPattern(frames: number, take: (encoder: Encoder) => Promise<(packet: import('node-av/lib').Packet) => Promise<void>>): Promise<void> {
  await using source = await FileSource.open(`testsrc2=size=160x120:rate=30:duration=${frames / 30}`, { format: 'lavfi' });
  const encoder = await Encoder.create(FF_ENCODER_LIBX264, { gopSize: 30, maxBFrames: 0, options: { preset: 'ultrafast', tune: 'zerolatency' } });
  let write: ((packet: import('node-av/lib').Packet) => Promise<void>) | undefined;
  const send = async (packets: import('node-av/lib').Packet[]) => {
    for (const packet of packets) {
      await write!(packet);
      packet.free();
    }
  };
  for await (const item of source.read()) {
    if (item.kind !== 'video') continue;
    // The muxer takes the stream's parameters from the encoder, which has them once it has seen a frame.
    const packets = await encoder.encodeAll(item.frame);
    write ??= await take(encoder);
    await send(packets);
    item.frame.free();
  }
  await send(await encoder.encodeAll(null));
  encoder.close();
}

test('a recording holds every packet it was given and is finished on close', async (t) => {
  const file = join(tempDir(t), 'rec.ts');
  let recording: Recording | undefined;
  await encodeTestPattern(45, async (video) => {
    recording = await Recording.open({ file, video });
    return (packet) => recording!.writeVideo(packet);
  });
  assert.equal(recording!.state.state, 'recording');
  await recording!.close();
  assert.deepEqual(recording!.state, { file, state: 'finished' });
  assert.equal(Number(videoStream(file).nb_read_frames), 45);
});

test('a recording that cannot be written (a full disk) ends alone: writes stop throwing, the state and one report say why', async () => {
  const failures: string[] = [];
  let recording: Recording | undefined;
  await encodeTestPattern(90, async (video) => {
    recording = await Recording.open({ file: '/dev/full', video, onFailed: (error) => failures.push(error) });
    return (packet) => recording!.writeVideo(packet);
  });
  await recording!.close();
  const state = recording!.state;
  assert.equal(state.state, 'failed');
  assert.match(state.error ?? '', /space/i);
  assert.deepEqual(failures, [state.error]);
});
