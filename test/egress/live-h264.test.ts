import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { LiveH264Encoder } from '../../src/egress/live-h264.js';
import { shadedFrames as frames } from '../helpers.js';

captureFfmpegLog();


test('a forced keyframe is an IDR on the next frame (node-av clears the picture type it is asked with)', async () => {
  const input = frames(12);
  using encoder = await LiveH264Encoder.open({ fps: 30, preset: 'ultrafast', keyframeSeconds: 10 });
  const keyframes: boolean[] = [];
  for (const [i, frame] of input.entries()) {
    // Asked for after the 5th frame: the 6th is an IDR, though the GOP is 10 s.
    if (i === 5) encoder.requestKeyframe();
    for (const packet of await encoder.encode(frame)) {
      keyframes.push(packet.isKeyframe);
      packet.free();
    }
    frame.free();
  }
  assert.deepEqual(
    keyframes.flatMap((key, i) => (key ? [i] : [])),
    [0, 5],
  );
});
