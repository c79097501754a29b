import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinedClip, tempDir } from '../helpers.js';
import { publish, startServer, until } from '../live-helpers.js';

test('the semantic stage per stream key: a live stream of a joined clip finds its cut, /metrics shows it and the features stage; a key without it is untouched', async (t) => {
  const clip = joinedClip(tempDir(t));
  const { http, rtmp, streams } = await startServer(t, { streams: { aware: { semantic: true } } });
  const aware = publish(rtmp('aware'), ['-i', clip]);
  const plain = publish(rtmp('plain'), ['-i', clip]);
  t.after(() => [aware, plain].forEach((p) => p.child.kill('SIGKILL')));
  assert.equal((await aware.done).code, 0);
  assert.equal((await plain.done).code, 0);
  const ended = await until('both ended', 15_000, async () => {
    const list = await streams();
    return list.length === 2 && list.every((s) => s.state === 'ended' || s.state === 'failed') ? list : undefined;
  });
  const [a, p] = ['aware', 'plain'].map((key) => ended.find((s) => s.key === key)!);
  t.diagnostic(`aware: ${a!.framesIn} in, ${a!.ringDrops} dropped, ${a!.sceneCuts} cut, ${a!.repeated} repeated; plain: ${p!.framesIn} in, ${p!.ringDrops} dropped, ${p!.repeated} repeated`);
  assert.equal(a!.state, 'ended', a!.error);
  // Two streams start at once on two cores: the engine may drop a frame to stay live (counted), which moves no cut.
  for (const s of [a!, p!]) assert.equal(s.framesIn + s.ringDrops, 30);
  assert.equal(a!.sceneCuts, 1);
  assert.equal(p!.sceneCuts, undefined);
  const metrics = await (await fetch(`${http}/metrics`)).text();
  assert.match(metrics, /^frc_stream_scene_cuts_total\{stream="aware"\} 1$/m);
  assert.doesNotMatch(metrics, /frc_stream_scene_cuts_total\{stream="plain"\}/);
  // Features are computed for the frames the engine takes (after the ring's drops).
  assert.match(metrics, new RegExp(`^frc_stream_stage_seconds_count\\{stream="aware",stage="features"\\} ${a!.framesIn}$`, 'm'));
  assert.match(metrics, /^frc_stream_stage_seconds_count\{stream="plain",stage="features"\} 0$/m);
});
