import type { LiveStreamMetrics } from '../live/live-stream.js';
import { STAGES } from '../engine/timing/frame-timing.js';
import type { ProcessFigures } from '../metrics/process-metrics.js';
import { exposition, type MetricFamily } from '../metrics/prometheus.js';

/**
 * `GET /metrics`: every listed stream's figures and the process's, as
 * Prometheus text. Pure: the streams' snapshots and the process figures in,
 * the page out. Streams are labelled by key (`stream="cam"`); an ended one
 * stays until it is unlisted, like in `/api/streams`.
 */
export function metricsPage(streams: LiveStreamMetrics[], proc: ProcessFigures): string {
  const per = <T>(pick: (m: LiveStreamMetrics) => T) => streams.map((m) => ({ key: m.stats.key, value: pick(m) }));
  const scalar = (type: 'gauge' | 'counter') => (name: string, help: string, pick: (m: LiveStreamMetrics) => number): MetricFamily => ({
    name,
    help,
    type,
    samples: per(pick).map(({ key, value }) => ({ labels: { stream: key }, value })),
  });
  const gauge = scalar('gauge');
  const counter = scalar('counter');
  const states = ['starting', 'live', 'ended', 'failed'] as const;

  const families: MetricFamily[] = [
    {
      name: 'frc_streams',
      help: 'Listed streams by state.',
      type: 'gauge',
      samples: states.map((state) => ({ labels: { state }, value: streams.filter((m) => m.stats.state === state).length })),
    },
    gauge('frc_stream_input_fps', 'Decoded input frames per second over the last 2 s.', (m) => m.stats.inputFps),
    gauge('frc_stream_output_fps', 'Encoded output frames per second over the last 2 s.', (m) => m.stats.outputFps),
    counter('frc_stream_input_frames_total', 'Input frames taken by the engine.', (m) => m.stats.framesIn),
    counter('frc_stream_output_frames_total', 'Output frames made by the engine.', (m) => m.stats.framesOut),
    counter('frc_stream_interpolated_frames_total', 'Output frames synthesized by the chosen interpolator.', (m) => m.stats.interpolated),
    counter('frc_stream_fallbacks_total', 'Output slots rendered by a fallback (all reasons).', (m) => m.stats.fallbacks),
    {
      name: 'frc_stream_fallback_frames_total',
      help: 'Output slots rendered by a fallback, by reason (error: the interpolator failed; deadline: it would have been late) and fallback.',
      type: 'counter',
      samples: streams.flatMap((m) => m.stats.fallbackFrames.map((f) => ({ labels: { stream: m.stats.key, reason: f.reason, synthesizer: f.synthesizer }, value: f.frames }))),
    },
    {
      name: 'frc_stream_rung_frames_total',
      help: 'Synthesized output slots by the synthesizer that rendered them: the model (the top rung of its ladder), its cheaper rungs (model/bilinear, model/reuse), blend, dup.',
      type: 'counter',
      samples: streams.flatMap((m) => m.stats.rungFrames.map((r) => ({ labels: { stream: m.stats.key, rung: r.rung }, value: r.frames }))),
    },
    counter('frc_stream_late_frames_total', 'Synthesized frames ready after their deadline.', (m) => m.stats.lateFrames),
    counter('frc_stream_repeated_frames_total', 'Output frames repeating an input frame (cuts, long gaps, the tail).', (m) => m.stats.repeated),
    {
      name: 'frc_stream_scene_cuts_total',
      help: 'Scene cuts the semantic stage found (streams that run it); each gap was filled by repeating the nearer frame.',
      type: 'counter',
      samples: streams.flatMap((m) => (m.stats.sceneCuts === undefined ? [] : [{ labels: { stream: m.stats.key }, value: m.stats.sceneCuts }])),
    },
    counter('frc_stream_ring_drops_total', 'Decoded input frames dropped because the engine fell behind.', (m) => m.stats.ringDrops),
    counter('frc_stream_decode_errors_total', 'Input video the decoder rejected.', (m) => m.stats.decodeErrors),
    {
      name: 'frc_stream_viewers',
      help: 'WebRTC (WHEP) viewers connected now, of the upconverted stream or the original.',
      type: 'gauge',
      samples: streams.flatMap((m) => [
        { labels: { stream: m.stats.key, variant: 'upconverted' }, value: m.stats.viewers },
        { labels: { stream: m.stats.key, variant: 'original' }, value: m.stats.originalViewers },
      ]),
    },
    {
      name: 'frc_stream_stage_seconds',
      help: 'Time per frame in each pipeline stage: decode (per input frame, from arrival), features (per input frame, when the semantic stage runs), interpolate (per synthesized frame), encode (per output frame).',
      type: 'histogram',
      samples: streams.flatMap((m) => STAGES.map((stage) => ({ labels: { stream: m.stats.key, stage }, histogram: m.timings.stages[stage] }))),
    },
    {
      name: 'frc_stream_added_latency_seconds',
      help: 'Delay the server added per output frame: from the arrival of the input frame it derives from until it was sent.',
      type: 'histogram',
      samples: streams.map((m) => ({ labels: { stream: m.stats.key }, histogram: m.timings.addedLatency })),
    },
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: [{ value: proc.residentBytes }] },
    { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use, bytes.', type: 'gauge', samples: [{ value: proc.heapUsedBytes }] },
    { name: 'nodejs_external_memory_bytes', help: 'Memory of native objects and ArrayBuffers known to V8, bytes.', type: 'gauge', samples: [{ value: proc.externalBytes }] },
    { name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch, seconds.', type: 'gauge', samples: [{ value: proc.startTimeSeconds }] },
  ];
  if (proc.openFds !== undefined) families.push({ name: 'process_open_fds', help: 'Open file descriptors.', type: 'gauge', samples: [{ value: proc.openFds }] });
  const lag = proc.eventLoopDelay;
  if (lag) {
    const window = 'over the last 10 s window';
    families.push(
      { name: 'nodejs_eventloop_lag_p50_seconds', help: `Median event-loop delay ${window}, seconds.`, type: 'gauge', samples: [{ value: lag.p50Seconds }] },
      { name: 'nodejs_eventloop_lag_p99_seconds', help: `99th percentile of the event-loop delay ${window}, seconds.`, type: 'gauge', samples: [{ value: lag.p99Seconds }] },
      { name: 'nodejs_eventloop_lag_max_seconds', help: `Longest event-loop delay ${window}, seconds.`, type: 'gauge', samples: [{ value: lag.maxSeconds }] },
    );
  }
  return exposition(families);
}
