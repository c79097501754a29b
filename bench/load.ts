/**
 * Load: many WHEP viewers on one stream, and several RTMP streams at once up
 * to the server's stream limit (one past it, to see the refusal), with
 * autocannon on /api/streams, against `frc serve` in a child process.
 * Reports per-viewer received fps (werift peers counting frames), the
 * stream's output fps (from its frame counter) and the server's RSS.
 *
 *   nice -n 5 node dist/bench/load.js [--viewers 1,5,10,20] [--streams 3] [--seconds 5]
 */
import './common.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, today } from './common.js';
import { watch, type WereiftViewer } from '../test/reliability/werift-viewer.js';

const { values } = parseArgs({ options: { viewers: { type: 'string', default: '1,5,10,20' }, streams: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' } } });
const viewerSteps = values.viewers!.split(',').map(Number);
const maxStreams = Number(values.streams);
const seconds = Number(values.seconds);
const httpPort = 19000 + Math.floor(Math.random() * 1000);
const rtmpPort = httpPort + 1000;
const http = `http://127.0.0.1:${httpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

interface Stats {
  key: string;
  state: string;
  framesOut: number;
  outputFps: number;
  viewers: number;
  ringDrops: number;
}
const all = async () => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: Stats[] }).streams;
const stats = async (key: string) => (await all()).find((s) => s.key === key);
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);

function publisher(key: string, duration = 600): ChildProcess {
  const child = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${duration}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${key}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.on('close', (code) => code && code !== 255 && process.stderr.write(`publisher ${key} exited ${code}: ${stderr.slice(-200)}\n`));
  children.push(child);
  return child;
}

async function live(key: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await stats(key))?.state === 'live') return true;
    await sleep(200);
  }
  return false;
}

/** Output fps of `keys` from their frame counters, and each viewer's received fps, over `ms`. */
async function measure(keys: string[], viewers: WereiftViewer[], ms: number) {
  const before = await all();
  const frames = viewers.map((v) => v.frames());
  const started = Date.now();
  await sleep(ms);
  const after = await all();
  const elapsed = Date.now() - started;
  const out = keys.map((key) => (((after.find((s) => s.key === key)?.framesOut ?? 0) - (before.find((s) => s.key === key)?.framesOut ?? 0)) * 1000) / elapsed);
  const received = viewers.map((v, i) => ((v.frames() - frames[i]!) * 1000) / elapsed);
  return { out, received, after };
}

// As npm start and the container image run it: a pool thread per RTMP stream and room for their work.
const server = spawn('node', ['dist/src/cli.js', 'serve', '--http-port', String(httpPort), '--rtmp-port', String(rtmpPort), '--interp', 'blend', '--max-streams', String(maxStreams), '--requests-per-second', '100000', '--request-burst', '100000'], { env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(maxStreams + 4) }, stdio: ['ignore', 'ignore', 'inherit'] });
children.push(server);
for (let i = 0; (await fetch(`${http}/readyz`).catch(() => undefined))?.status !== 200; i++) {
  if (i > 100) throw new Error('server not ready');
  await sleep(200);
}
const lines: string[] = [`Load, ${today()}, ${machine()}; \`nice -n 5 node dist/bench/load.js --viewers ${values.viewers} --streams ${maxStreams} --seconds ${seconds}\`, blend, 320x240 testsrc2 at 30 fps in, 60 fps out.`, ''];
const fmt = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(1)} / ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} / ${Math.max(...xs).toFixed(1)}` : '-');

// ---- Many viewers on one stream.
publisher('one');
if (!(await live('one'))) throw new Error('stream one did not go live');
await sleep(2000);
lines.push('| WHEP viewers | per-viewer received fps (min / mean / max) | stream out fps | ring drops | server RSS MiB |', '|---|---|---|---|---|');
const viewers: WereiftViewer[] = [];
for (const n of viewerSteps) {
  while (viewers.length < n) viewers.push(await watch(http, 'one'));
  await sleep(3000);
  const m = await measure(['one'], viewers, seconds * 1000);
  const s = m.after.find((x) => x.key === 'one')!;
  const line = `| ${n} | ${fmt(m.received)} | ${m.out[0]!.toFixed(1)} | ${s.ringDrops} | ${rssMiB(server.pid!)} |`;
  console.log(line);
  lines.push(line);
}
await Promise.all(viewers.map((v) => v.close()));
children.pop()!.kill('SIGKILL'); // the publisher of 'one'

// ---- Several streams, up to the limit and one past it, with autocannon on the API meanwhile.
await sleep(2000);
lines.push('', '| streams | each stream out fps (min / mean / max) | the same with autocannon running | one past the limit | autocannon on /api/streams (10 conns, 5 s): req/s, p99 ms, non-2xx | server RSS MiB |', '|---|---|---|---|---|---|');
const keys: string[] = [];
for (let n = 1; n <= maxStreams; n++) {
  keys.push(`s${n}`);
  publisher(`s${n}`);
  if (!(await live(`s${n}`))) throw new Error(`s${n} did not go live`);
}
await sleep(3000);
const moduleName = 'autocannon';
const { default: autocannon } = (await import(moduleName)) as { default: (opts: object) => Promise<{ requests: { average: number }; latency: { p99: number }; non2xx: number }> };
const alone = await measure(keys, [], seconds * 1000);
const [m, cannon] = await Promise.all([measure(keys, [], seconds * 1000), autocannon({ url: `${http}/api/streams`, connections: 10, duration: 5 })]);
const extra = publisher('over', 5);
const refused = await new Promise<number | null>((resolve) => extra.on('close', resolve));
const line = `| ${maxStreams} | ${fmt(alone.out)} | ${fmt(m.out)} | RTMP publisher exits ${refused} (refused) | ${cannon.requests.average.toFixed(0)}, ${cannon.latency.p99}, ${cannon.non2xx} | ${rssMiB(server.pid!)} |`;
console.log(line);
lines.push(line);
console.log('\n' + lines.join('\n'));
process.exit(0);
