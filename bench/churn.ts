/**
 * Publish/disconnect churn: `frc serve` (default model) in a child process
 * and `--cycles` RTMP publishes one after another, each `--seconds` of
 * FFmpeg's test signal at `--size`, then gone. After the first cycle, every
 * fifth and at the end (after 10 s idle) it prints the server's RSS
 * (anonymous and file-backed), its V8 heap and external memory (from
 * /metrics), threads and descriptors. With `--malloc-stats` it then asks
 * glibc, through gdb, how much of its heap is in use against what it holds
 * from the system: a large gap with a flat V8 heap is fragmentation, not a
 * leak (issue #28).
 *
 *   node dist/bench/churn.js [--cycles 50] [--seconds 2] [--size 1280x720] [--malloc-stats]
 */
import './common.js';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, today } from './common.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '2' },
    size: { type: 'string', default: '1280x720' },
    'malloc-stats': { type: 'boolean', default: false },
  },
});
const httpPort = 21000 + Math.floor(Math.random() * 1000);
const rtmpPort = httpPort + 1000;
const http = `http://127.0.0.1:${httpPort}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = spawn('node', ['dist/src/cli.js', 'serve', '--http-port', String(httpPort), '--rtmp-port', String(rtmpPort), '--host', '127.0.0.1', '--ended-retention-seconds', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
server.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
process.on('exit', () => server.kill('SIGKILL'));
const pid = server.pid!;

const status = () => readFileSync(`/proc/${pid}/status`, 'utf8');
const mib = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status())![1]) / 1024);
async function metric(name: string): Promise<number> {
  const page = await (await fetch(`${http}/metrics`)).text();
  return Math.round(Number(new RegExp(`^${name} (\\S+)`, 'm').exec(page)?.[1]) / 2 ** 20);
}
async function sample(label: string) {
  const row = {
    label,
    rssMiB: mib('VmRSS'),
    anonMiB: mib('RssAnon'),
    fileMiB: mib('RssFile'),
    v8HeapMiB: await metric('nodejs_heap_used_bytes'),
    externalMiB: await metric('nodejs_external_memory_bytes'),
    threads: Number(/Threads:\s+(\d+)/.exec(status())![1]),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
  console.log(JSON.stringify(row));
  return row;
}

for (let i = 0; (await fetch(`${http}/readyz`).catch(() => undefined))?.status !== 200; i++) {
  if (i > 300) throw new Error(`the server did not get ready: ${stderr}`);
  await sleep(200);
}
const rows = [await sample('baseline')];
const cycles = Number(values.cycles);
const seconds = values.seconds!;
for (let c = 1; c <= cycles; c++) {
  const source = ['-f', 'lavfi', '-i', `testsrc2=size=${values.size}:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
  spawnSync('ffmpeg', ['-v', 'error', '-re', ...source, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/churn${c}`]);
  await sleep(1500); // the stream's teardown
  if (c === 1 || c % 5 === 0) rows.push(await sample(`cycle ${c}`));
}
await sleep(10_000);
rows.push(await sample('after 10 s idle'));
let malloc: Record<string, number> | undefined;
if (values['malloc-stats']) {
  // malloc_stats() writes to the server's stderr: per arena, then the total.
  stderr = '';
  spawnSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (void)malloc_stats()'], { stdio: 'ignore' });
  await sleep(500);
  const total = /Total \(incl\. mmap\):\s*\n\s*system bytes\s*=\s*(\d+)\s*\n\s*in use bytes\s*=\s*(\d+)/.exec(stderr);
  if (total) malloc = { arenas: (stderr.match(/^Arena \d+:/gm) ?? []).length, systemMiB: Math.round(Number(total[1]) / 2 ** 20), inUseMiB: Math.round(Number(total[2]) / 2 ** 20) };
  console.log(JSON.stringify({ malloc }));
}
console.log(JSON.stringify({ date: today(), machine: machine(), cycles, seconds: Number(seconds), size: values.size, baselineMiB: rows[0]!.rssMiB, afterMiB: rows.at(-1)!.rssMiB, malloc }));
server.kill('SIGKILL');
