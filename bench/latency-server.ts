/**
 * The live server for bench/latency.ts, in its own process (as in
 * production, so the benchmark's viewer does not share its event loop).
 * Prints `{"http":N,"rtmp":N}` once listening; SIGTERM stops it.
 *
 *   node dist/bench/latency-server.js --interp blend|model|dup [--model PATH] [--factor 1|2] [--deadline-ms N] [--threads N] [--encoder-preset P] [--video-bitrate-kbps N]
 */
import '../src/base/polyfills.js';
import { parseArgs } from 'node:util';
import type { InterpolatorKind } from '../src/engine/model/model-choice.js';
import type { X264Preset } from '../src/egress/x264-presets.js';
import { captureFfmpegLog } from '../src/base/ffmpeg-log.js';
import { Server } from '../src/server/serve.js';

const { values } = parseArgs({ options: { interp: { type: 'string' }, model: { type: 'string' }, factor: { type: 'string' }, 'deadline-ms': { type: 'string' }, threads: { type: 'string' }, 'encoder-preset': { type: 'string' }, 'video-bitrate-kbps': { type: 'string' } } });
captureFfmpegLog();
const server = new Server({
  kind: values.interp as InterpolatorKind | undefined,
  modelPath: values.model,
  factor: Number(values.factor ?? 2),
  ...(values['deadline-ms'] ? { deadlineMs: Number(values['deadline-ms']) } : {}),
  ...(values.threads ? { threads: Number(values.threads) } : {}),
  ...(values['encoder-preset'] ? { encoderPreset: values['encoder-preset'] as X264Preset } : {}),
  ...(values['video-bitrate-kbps'] ? { videoBitrateKbps: Number(values['video-bitrate-kbps']) } : {}),
  httpPort: 0,
  rtmpPort: 0,
  logger: { info: () => {}, warn: (m) => process.stderr.write(`server: ${m}\n`) },
});
const ports = await server.listen();
process.stdout.write(JSON.stringify({ http: ports.httpPort, rtmp: ports.rtmpPort }) + '\n');
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
