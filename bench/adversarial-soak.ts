/**
 * Adversarial soak: the five failure cases of issue #28, repeated against a
 * live stream on `frc serve` (a child process, default limits, blend
 * interpolator, recording on), for a few minutes. Every round (default 20 s):
 * - a WHEP and a WHIP offer with 900 m-lines (62 KB, under the body limit);
 * - a WHIP and a WHEP offer without `a=ice-pwd`;
 * - 10 WHEP offers whose peers never connect;
 * - 3 RTMP publishers that publish and send no video (Window-Acks only);
 * - once, in the second round: the recording disk (a tmpfs of its own)
 *   filled to the last byte. Skipped, and said so, where no tmpfs can be
 *   mounted (it needs root).
 * Every second it reads the stream's output rate; before the attacks and
 * after them (once the server's timeouts have let everything go) it reads
 * the server's RSS and open descriptors from /proc. It asserts that the
 * stream kept its rate and that RSS and descriptors came back to their
 * baseline (RSS within 15 %, descriptors within 5).
 *
 *   node dist/bench/adversarial-soak.js [--minutes 3] [--round-s 20] [--out adversarial-soak.json]
 */
import './common.js';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, today } from './common.js';
import { fillDisk } from '../test/reliability/reliability-helpers.js';
import { RawRtmp, rtmpMessage } from '../test/reliability/rtmp-client.js';
import { floodOffer } from '../test/reliability/sdp-fuzz.js';
import { H264 } from '../test/reliability/werift-viewer.js';
import { makeOffer, postOffer } from '../test/webrtc-helpers.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    'round-s': { type: 'string', default: '20' },
    out: { type: 'string', default: 'adversarial-soak.json' },
  },
});
const minutes = Number(values.minutes);
const roundMs = Number(values['round-s']) * 1000;
const httpPort = 20000 + Math.floor(Math.random() * 1000);
const rtmpPort = httpPort + 1000;
const http = `http://127.0.0.1:${httpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const children: ChildProcess[] = [];
function run(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000)));
  child.on('exit', (code) => code && !stopping && process.stderr.write(`[${cmd}] exited ${code}: ${tail}\n`));
  children.push(child);
  return child;
}
let stopping = false;
const stopAll = () => ((stopping = true), children.forEach((c) => c.kill('SIGKILL')));
process.on('exit', stopAll);

// The recording disk: a tmpfs to fill, where one can be mounted.
const disk = mkdtempSync(join(tmpdir(), 'frc-soak-disk-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', disk], { encoding: 'utf8' }).status === 0;
process.on('exit', () => {
  if (mounted) spawnSync('umount', ['-l', disk]);
  rmSync(disk, { recursive: true, force: true });
});

const server = run('node', ['dist/src/cli.js', 'serve', '--http-port', String(httpPort), '--rtmp-port', String(rtmpPort), '--host', '127.0.0.1', '--interp', 'blend', '--record', '--record-dir', disk, '--ended-retention-seconds', '5']);
const pid = server.pid!;
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
type Stream = { key: string; state: string; outputFps: number; viewers: number; error?: string; recording?: { state: string } };
const streams = async () => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: Stream[] }).streams;
const soak = async () => (await streams()).find((s) => s.key === 'soak');

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(500);
  }
  return Date.now() - started;
}
/** The median of `n` samples a second apart: one sample catches a GC or an encoder's buffer mid-flight. */
async function settled(read: () => number, n = 5): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(read());
    await sleep(1000);
  }
  return xs.sort((a, b) => a - b)[n >> 1]!;
}

await until('the server ready', 60_000, async () => (await fetch(`${http}/readyz`)).status === 200);
run('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/soak`]);
await until('the stream live', 30_000, async () => (await soak())?.state === 'live');
await sleep(10_000);
const baseline = { rssMiB: await settled(rssMiB), fds: await settled(fds) };
console.log(JSON.stringify({ baseline }));

// The stream's output rate, every second, for the whole soak.
const rates: number[] = [];
const rateTimer = setInterval(() => void soak().then((s) => rates.push(s?.state === 'live' ? s.outputFps : 0)), 1000);

const answers = new Map<string, number>();
const count = (what: string, status: number) => answers.set(`${what} ${status}`, (answers.get(`${what} ${status}`) ?? 0) + 1);
const stalled: RawRtmp[] = [];
const ack = Buffer.alloc(4);
ack.writeUInt32BE(2_500_000);
const acks = setInterval(() => stalled.forEach((c) => c.write(rtmpMessage(2, 3, 0, 0, ack, 128))), 1000);
let diskFilled: string = mounted ? 'not yet' : 'skipped: no tmpfs could be mounted (needs root)';

async function round(n: number): Promise<void> {
  const real = await makeOffer('recvonly', [H264]);
  const flood = floodOffer(real.sdp, 900);
  count('900 m-lines WHEP', (await postOffer(`${http}/whep/soak`, flood)).status);
  count('900 m-lines WHIP', (await postOffer(`${http}/whip/flood${n}`, flood.replace('a=recvonly', 'a=sendonly'))).status);
  const noPwd = real.sdp.replace(/a=ice-pwd:[^\r\n]*\r\n/g, '');
  count('no ice-pwd WHEP', (await postOffer(`${http}/whep/soak`, noPwd)).status);
  const sender = await makeOffer('sendonly');
  count('no ice-pwd WHIP', (await postOffer(`${http}/whip/nopwd${n}`, sender.sdp.replace(/a=ice-pwd:[^\r\n]*\r\n/g, ''))).status);
  await Promise.all([real.pc.close(), sender.pc.close()]);
  // Offers whose peers go away without an answer, as a script's would.
  const ghosts = await Promise.all(Array.from({ length: 10 }, () => makeOffer('recvonly', [H264])));
  for (const ghost of ghosts) count('unconnected WHEP', (await postOffer(`${http}/whep/soak`, ghost.sdp)).status);
  await Promise.all(ghosts.map((g) => g.pc.close()));
  for (let i = 0; i < 3; i++) {
    const c = await RawRtmp.open(rtmpPort);
    await c.publish(`novideo${n}-${i}`).then(() => count('RTMP without video: publish', 200), () => count('RTMP without video: publish', 0));
    stalled.push(c);
  }
  if (n === 2 && mounted) {
    fillDisk(disk, 0);
    diskFilled = `filled in round ${n}`;
  }
}

const started = Date.now();
for (let n = 1; Date.now() - started < minutes * 60_000; n++) {
  const roundStarted = Date.now();
  await round(n);
  console.log(JSON.stringify({ round: n, t: Math.round((Date.now() - started) / 1000), rssMiB: Math.round(rssMiB()), fds: fds(), fps: rates.at(-1) }));
  await sleep(Math.max(0, roundMs - (Date.now() - roundStarted)));
}
const attackSeconds = Math.round((Date.now() - started) / 1000);
const duringRates = rates.slice();
// Everything the attacks left must go by the server's own timeouts: 15 s for an unconnected viewer and for a publisher without video.
const settleMs = await until('the server to let the attackers go', 60_000, async () => {
  const list = await streams();
  const s = list.find((x) => x.key === 'soak');
  return stalled.every((c) => c.socket.destroyed) && s?.viewers === 0 && list.every((x) => x.key === 'soak' || x.state !== 'live');
});
clearInterval(acks);
await sleep(10_000);
const after = { rssMiB: await settled(rssMiB), fds: await settled(fds) };
clearInterval(rateTimer);
const final = await soak();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const summary = {
  date: today(),
  machine: machine(),
  minutes,
  roundSeconds: roundMs / 1000,
  attackSeconds,
  answers: Object.fromEntries(answers),
  fullDisk: diskFilled,
  recording: final?.recording,
  stream: { state: final?.state, outputFps: { mean: mean(duringRates), min: Math.min(...duringRates), belowFifty: duringRates.filter((r) => r < 50).length, samples: duringRates.length } },
  settleSeconds: Math.round(settleMs / 1000),
  rssMiB: { baseline: Math.round(baseline.rssMiB), after: Math.round(after.rssMiB) },
  fds: { baseline: baseline.fds, after: after.fds },
};
const failures: string[] = [];
if (final?.state !== 'live') failures.push(`the stream is ${final?.state}: ${final?.error}`);
if (summary.stream.outputFps.mean < 57) failures.push(`output ${summary.stream.outputFps.mean.toFixed(1)} fps on average`);
if (after.rssMiB > baseline.rssMiB * 1.15) failures.push(`RSS ${baseline.rssMiB.toFixed(0)} -> ${after.rssMiB.toFixed(0)} MiB`);
if (after.fds > baseline.fds + 5) failures.push(`descriptors ${baseline.fds} -> ${after.fds}`);
for (const [what, n] of answers) if (/ 5\d\d$/.test(what)) failures.push(`${n} x ${what}`);
console.log(JSON.stringify({ summary, failures }, null, 2));
writeFileSync(values.out!, JSON.stringify({ summary, failures }, null, 2));
stopAll();
process.exit(failures.length ? 1 : 0);
