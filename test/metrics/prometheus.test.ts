import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram } from '../../src/metrics/histogram.js';
import { exposition } from '../../src/metrics/prometheus.js';

test('exposition: HELP and TYPE once per family, escaped labels, histograms with cumulative buckets, +Inf, sum and count', () => {
  const h = new Histogram([0.01, 0.1]);
  for (const v of [0.005, 0.05, 0.05, 3, Number.NaN]) h.observe(v);
  const text = exposition([
    { name: 'frc_streams', help: 'Streams.\nby state', type: 'gauge', samples: [{ labels: { state: 'live' }, value: 2 }, { labels: { state: 'ended' }, value: 0 }] },
    { name: 'frc_x_total', help: 'x', type: 'counter', samples: [{ labels: { stream: 'a"b\\c\nd' }, value: 1.5 }] },
    { name: 'process_open_fds', help: 'fds', type: 'gauge', samples: [{ value: 12 }] },
    { name: 'frc_lat_seconds', help: 'lat', type: 'histogram', samples: [{ labels: { stream: 's' }, histogram: h.snapshot() }] },
  ]);
  assert.equal(
    text,
    [
      '# HELP frc_streams Streams.\\nby state',
      '# TYPE frc_streams gauge',
      'frc_streams{state="live"} 2',
      'frc_streams{state="ended"} 0',
      '# HELP frc_x_total x',
      '# TYPE frc_x_total counter',
      'frc_x_total{stream="a\\"b\\\\c\\nd"} 1.5',
      '# HELP process_open_fds fds',
      '# TYPE process_open_fds gauge',
      'process_open_fds 12',
      '# HELP frc_lat_seconds lat',
      '# TYPE frc_lat_seconds histogram',
      'frc_lat_seconds_bucket{stream="s",le="0.01"} 1',
      'frc_lat_seconds_bucket{stream="s",le="0.1"} 3',
      'frc_lat_seconds_bucket{stream="s",le="+Inf"} 4',
      'frc_lat_seconds_sum{stream="s"} 3.105',
      'frc_lat_seconds_count{stream="s"} 4',
      '',
    ].join('\n'),
  );
});

test('exposition refuses names the format cannot carry; histograms refuse unsorted bounds', () => {
  assert.throws(() => exposition([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }]), /bad metric name/);
  assert.throws(() => exposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'le-x': '1' }, value: 1 }] }]), /bad label name/);
  assert.throws(() => new Histogram([0.1, 0.01]), /ascending/);
});
