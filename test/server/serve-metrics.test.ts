import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publish, startServer, until } from '../live-helpers.js';

/** One scrape of /metrics: the samples by series ("name{labels}"), and the raw text. */
async function scrape(http: string): Promise<{ series: Map<string, number>; text: string; contentType: string | null }> {
  const res = await fetch(`${http}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    // The exposition grammar: name, optional {label="value",...}, a number.
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    series.set(m[1]!, Number(m[2] === '+Inf' ? Infinity : m[2]));
  }
  return { series, text, contentType: res.headers.get('content-type') };
}

function value(series: Map<string, number>, key: string): number {
  const v = series.get(key);
  assert.ok(v !== undefined, `no series ${key}`);
  return v;
}

test('/metrics while an RTMP publisher is live: per-stream rates, stage and latency histograms, fallbacks, drops, viewers, process figures', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  const publisher = publish(rtmp('m'), ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=12', '-f', 'lavfi', '-i', 'sine=duration=12']);
  t.after(() => publisher.child.kill('SIGKILL'));

  // Before anything is published: the process figures and an empty stream list.
  const empty = await scrape(http);
  assert.equal(empty.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.ok(value(empty.series, 'process_resident_memory_bytes') > 10e6);
  assert.ok(value(empty.series, 'process_open_fds') > 3);
  // The event loop's delay: sampled every 2 ms, so a few ms at most on an idle server.
  const lag = value(empty.series, 'nodejs_eventloop_lag_p99_seconds');
  assert.ok(lag > 0 && lag < 1, `${lag}`);
  assert.ok(value(empty.series, 'nodejs_eventloop_lag_max_seconds') >= lag);

  await until('stream live for 3 s', 20_000, async () => {
    const s = (await streams()).find((x) => x.key === 'm');
    return s?.state === 'live' && s.framesIn >= 90 ? s : undefined;
  });
  const first = await scrape(http);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const second = await scrape(http);

  for (const name of ['frc_stream_input_fps', 'frc_stream_output_fps', 'frc_stream_stage_seconds', 'frc_stream_added_latency_seconds', 'frc_stream_fallback_frames_total', 'frc_stream_ring_drops_total', 'frc_stream_viewers', 'process_open_fds']) {
    assert.match(second.text, new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, 'm'));
  }
  const s = (key: string) => `${key}{stream="m"}`;
  assert.equal(value(second.series, 'frc_streams{state="live"}'), 1);
  const inFps = value(second.series, s('frc_stream_input_fps'));
  const outFps = value(second.series, s('frc_stream_output_fps'));
  assert.ok(inFps > 20 && inFps < 40, `input ${inFps} fps`);
  assert.ok(outFps / inFps > 1.6 && outFps / inFps < 2.4, `output ${outFps} fps for ${inFps} in`);

  // Counters and histogram counts move between scrapes.
  const moved = (key: string) => value(second.series, key) - value(first.series, key);
  assert.ok(moved(s('frc_stream_input_frames_total')) >= 40, 'input frames counted');
  assert.ok(moved(s('frc_stream_output_frames_total')) >= 80, 'output frames counted');
  for (const stage of ['decode', 'interpolate', 'encode']) {
    const key = `frc_stream_stage_seconds_count{stream="m",stage="${stage}"}`;
    assert.ok(moved(key) >= 25, `${stage} observations moved by ${moved(key)}`);
    // Cumulative buckets never decrease, and +Inf holds them all.
    assert.equal(value(second.series, `frc_stream_stage_seconds_bucket{stream="m",stage="${stage}",le="+Inf"}`), value(second.series, key));
    assert.ok(value(second.series, `frc_stream_stage_seconds_bucket{stream="m",stage="${stage}",le="0.001"}`) <= value(second.series, `frc_stream_stage_seconds_bucket{stream="m",stage="${stage}",le="1"}`));
  }
  const latencyCount = moved(s('frc_stream_added_latency_seconds_count'));
  assert.ok(latencyCount >= 80, `latency observations ${latencyCount}`);
  // Mean added latency over the interval: at least the wait for the next input frame (33 ms at 30 fps), far below a second.
  const meanLatency = moved(s('frc_stream_added_latency_seconds_sum')) / latencyCount;
  assert.ok(meanLatency > 0.015 && meanLatency < 1, `mean added latency ${meanLatency} s`);
  const synthesized = value(second.series, s('frc_stream_interpolated_frames_total')) + value(second.series, s('frc_stream_fallbacks_total'));
  assert.equal(synthesized > 0, true);
  // Every synthesized slot by the rung that rendered it, the top rung's own (here blend) included: they add up.
  assert.match(second.text, /^# TYPE frc_stream_rung_frames_total counter$/m);
  const byRung = [...second.series].filter(([key]) => key.startsWith('frc_stream_rung_frames_total{stream="m",'));
  assert.ok(byRung.some(([key]) => key === 'frc_stream_rung_frames_total{stream="m",rung="blend"}'), byRung.join(' '));
  assert.equal(byRung.reduce((sum, [, v]) => sum + v, 0), synthesized, byRung.join(' '));
  assert.ok(value(second.series, s('frc_stream_ring_drops_total')) >= 0);
  assert.equal(value(second.series, 'frc_stream_viewers{stream="m",variant="upconverted"}'), 0);
  assert.equal(value(second.series, 'frc_stream_viewers{stream="m",variant="original"}'), 0);

  // The same figures as /api/streams.
  const listed = (await streams()).find((x) => x.key === 'm')!;
  // One and a half input frame intervals at 30 fps (LIVE_BUDGET_INTERVALS).
  assert.ok(listed.deadlineMs !== undefined && Math.abs(listed.deadlineMs - 50) < 0.1, `deadline ${listed.deadlineMs}`);
  assert.ok(Array.isArray(listed.fallbackFrames));
  assert.equal(listed.rungFrames.reduce((sum, r) => sum + r.frames, 0), listed.interpolated + listed.fallbacks, JSON.stringify(listed.rungFrames));
  assert.ok(listed.rungFrames.some((r) => r.rung === 'blend' && r.frames > 0), JSON.stringify(listed.rungFrames));
});
