/**
 * Soak: one 320x240 RTMP stream (a looped clip, published in real time) and
 * one WHEP viewer against `frc serve` in a child process, for a long time.
 * Every interval it records the server's RSS and open descriptors (from
 * /proc/<pid>, the server's own figures), the stream's output rate and the
 * viewer's received rate, then asserts that memory and descriptors are
 * bounded (the last 10 minutes' mean is not above the 5-15 minute window's
 * mean by more than a margin) and that the stream kept ~60 fps.
 *
 *   nice -n 5 node dist/bench/soak.js [--minutes 30] [--interval-s 30] [--out soak.jsonl]
 */
import './common.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, today } from './common.js';
import { watch } from '../test/reliability/werift-viewer.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'interval-s': { type: 'string', default: '30' },
    out: { type: 'string', default: 'soak.jsonl' },
    clip: { type: 'string', default: resolve('../shared/data/footage/birds_animation_720p30_wp2022.mp4') },
  },
});
const minutes = Number(values.minutes);
const intervalMs = Number(values['interval-s']) * 1000;
const out = values.out!;
const httpPort = 18000 + Math.floor(Math.random() * 1000);
const rtmpPort = httpPort + 1000;
const http = `http://127.0.0.1:${httpPort}`;

interface Sample {
  t: number;
  rssMiB: number;
  fds: number;
  outputFps: number;
  inputFps: number;
  viewerFps: number;
  framesOut: number;
  ringDrops?: number;
  viewers?: number;
}

const children: ChildProcess[] = [];
function run(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${cmd}] ${chunk}`));
  children.push(child);
  return child;
}
const stopAll = () => children.forEach((c) => c.kill('SIGKILL'));
process.on('exit', stopAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const stream = async () => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: Record<string, number & string>[] }).streams.find((s) => s.key === 'soak');

const server = run('node', ['dist/src/cli.js', 'serve', '--http-port', String(httpPort), '--rtmp-port', String(rtmpPort), '--interp', 'blend']);
for (let i = 0; ; i++) {
  if ((await fetch(`${http}/readyz`).catch(() => undefined))?.status === 200) break;
  if (i > 100) throw new Error('server did not get ready');
  await sleep(200);
}
run('ffmpeg', ['-v', 'error', '-re', '-stream_loop', '-1', '-i', values.clip!, '-vf', 'scale=320:240,fps=30', '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/soak`]);
for (let i = 0; (await stream())?.state !== 'live'; i++) {
  if (i > 100) throw new Error('the stream did not go live');
  await sleep(200);
}
const viewer = await watch(http, 'soak');
await sleep(3000);

writeFileSync(out, '');
const samples: Sample[] = [];
const started = Date.now();
let lastFrames = viewer.frames();
let lastAt = Date.now();
while (Date.now() - started < minutes * 60_000) {
  await sleep(intervalMs);
  const s = await stream();
  const now = Date.now();
  const sample: Sample = {
    t: Math.round((now - started) / 1000),
    rssMiB: Math.round(rssMiB(server.pid!) * 10) / 10,
    fds: fds(server.pid!),
    outputFps: s?.outputFps ?? 0,
    inputFps: s?.inputFps ?? 0,
    viewerFps: Math.round(((viewer.frames() - lastFrames) * 10000) / (now - lastAt)) / 10,
    framesOut: s?.framesOut ?? 0,
    ringDrops: s?.ringDrops,
    viewers: s?.viewers,
  };
  lastFrames = viewer.frames();
  lastAt = now;
  samples.push(sample);
  appendFileSync(out, `${JSON.stringify(sample)}\n`);
  console.log(JSON.stringify(sample));
}
await viewer.close();
stopAll();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const window = (from: number, to: number) => samples.filter((s) => s.t > from * 60 && s.t <= to * 60);
const total = minutes;
const early = window(5, Math.min(15, total));
const late = window(Math.max(0, total - 10), total);
const summary = {
  date: today(),
  machine: machine(),
  minutes,
  samples: samples.length,
  rssMiB: { min: Math.min(...samples.map((s) => s.rssMiB)), max: Math.max(...samples.map((s) => s.rssMiB)), mean5to15: mean(early.map((s) => s.rssMiB)), meanLast10: mean(late.map((s) => s.rssMiB)) },
  fds: { min: Math.min(...samples.map((s) => s.fds)), max: Math.max(...samples.map((s) => s.fds)), mean5to15: mean(early.map((s) => s.fds)), meanLast10: mean(late.map((s) => s.fds)) },
  outputFps: { mean: mean(samples.map((s) => s.outputFps)), min: Math.min(...samples.map((s) => s.outputFps)) },
  viewerFps: { mean: mean(samples.map((s) => s.viewerFps)), min: Math.min(...samples.map((s) => s.viewerFps)) },
};
const failures: string[] = [];
// Bounded: the last 10 minutes may sit at most 10 % (RSS) or 5 descriptors above the 5-15 minute window.
if (summary.rssMiB.meanLast10 > summary.rssMiB.mean5to15 * 1.1) failures.push(`RSS grew: ${summary.rssMiB.mean5to15.toFixed(1)} -> ${summary.rssMiB.meanLast10.toFixed(1)} MiB`);
if (summary.fds.meanLast10 > summary.fds.mean5to15 + 5) failures.push(`descriptors grew: ${summary.fds.mean5to15.toFixed(1)} -> ${summary.fds.meanLast10.toFixed(1)}`);
if (summary.outputFps.mean < 57) failures.push(`output ${summary.outputFps.mean.toFixed(1)} fps on average`);
if (summary.viewerFps.mean < 55) failures.push(`viewer received ${summary.viewerFps.mean.toFixed(1)} fps on average`);
console.log(JSON.stringify({ summary, failures }, null, 2));
writeFileSync(join(out + '.summary.json'), JSON.stringify({ summary, failures }, null, 2));
process.exit(failures.length ? 1 : 0);
