/**
 * Added latency, glass to glass on one machine: a publisher sends a real
 * clip with a frame counter stamped into its pixels (bench/frame-stamp.ts)
 * over RTMP with the ffmpeg CLI; a WebRTC viewer (a werift peer in this
 * process, WHEP) decodes every frame it receives and reads its stamp. Added
 * latency per output frame = the time it was decoded here − the time the
 * input frame it derives from was handed to the publisher (an in-between
 * frame derives from the later of its two frames, which it had to wait
 * for). Sender and receiver share this process's clock.
 *
 * The clip is also published over WHIP (`--ingest rtmp,whip`): a werift
 * peer sends its H.264 frames as RTP at their times (bench/whip-publisher.ts).
 * The same stream is also watched over HLS (`--viewers whep,hls`): the
 * playlist is polled every 100 ms and each new segment downloaded and
 * decoded; a frame's time is when its segment was downloaded (HLS latency
 * is mostly the segment length, 1 s here).
 *
 * Runs, per size: pass-through (`--factor 1`: the same path without
 * interpolation, the cost of transport and coding alone), blend, and the
 * model where `models/fast.onnx` exists. Then `autocannon` against
 * `/api/streams` while a stream runs, with the stream's output rate before
 * and during.
 *
 *   node dist/bench/latency.js [--sizes 480,720,1080] [--seconds 20] [--runs pass,blend,model] [--ingest rtmp,whip] [--viewers whep,hls]
 *                              [--deadline-ms N] [--threads N] [--encoder-preset ultrafast] [--video-bitrate-kbps N] [--model quality|PATH] [--no-autocannon]
 */
import './common.js';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { NODE_FLAGS } from '../src/base/node-flags.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Decoder } from 'node-av/api';
import { CodecParameters, Packet, Rational, type Stream } from 'node-av/lib';
import { AV_CODEC_ID_H264, AV_PKT_FLAG_KEY, AVMEDIA_TYPE_VIDEO } from 'node-av/constants';
import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from 'werift';
import { DEFAULT_MODEL_PATH, resolveModelPath } from '../src/engine/model/model-choice.js';
import { captureFfmpegLog } from '../src/base/ffmpeg-log.js';
import { RtpFrameAssembler } from '../src/protocols/webrtc/rtp-frame-assembler.js';
import { FileSource } from '../src/ingest/file-source.js';
import type { LiveStreamStats } from '../src/live/live-stream.js';
import { readStamp, STAMP_BITS, stampFilter } from './frame-stamp.js';
import { publishWhip } from './whip-publisher.js';
import { machine, today } from './common.js';

const SIZES: Record<string, [number, number, string]> = { '480': [854, 480, '1500k'], '720': [1280, 720, '3000k'], '1080': [1920, 1080, '6000k'] };
const REPO = resolve(new URL('../..', import.meta.url).pathname);
const SOURCE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage/birds_animation_720p30_wp2022.mp4');
const FPS = 30;
/** Frames before this many seconds are left out: the publisher's probing and the viewer's join. */
const WARMUP_S = 3;

captureFfmpegLog();

// The viewer's UDP sockets (werift's) get a 4 MiB receive buffer: with the
// default 208 KiB, a 720p keyframe's burst of RTP packets overflowed it on
// loopback while the viewer was busy decoding (every keyframe lost packets,
// measured), and the viewer saw no picture at all. Browsers ask for large
// buffers too; werift does not expose the option, so it is set here.
const bind = Socket.prototype.bind;
Socket.prototype.bind = function (this: Socket, ...args: unknown[]) {
  this.once('listening', () => {
    try {
      this.setRecvBufferSize(4 << 20);
    } catch {
      // the kernel's limit is lower: keep its default
    }
  });
  return (bind as (...a: unknown[]) => Socket).apply(this, args);
} as typeof bind;

interface Run {
  size: string;
  label: string;
  serverArgs: string[];
  /** How the clip is published: `rtmp` (the ffmpeg CLI, -c copy) or `whip` (a werift peer). */
  ingest: 'rtmp' | 'whip';
}

/** The stamped clip as FLV (H.264 zerolatency, no B-frames, a keyframe a second, no audio), cut into tags. */
function prepareClip(work: string, size: string, frames: number): { head: Buffer; frames: Buffer[] } {
  const [w, h, bitrate] = SIZES[size]!;
  const file = join(work, `stamped${size}.flv`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', SOURCE, '-frames:v', String(frames), '-an', '-vf', `scale=${w}:${h},${stampFilter(h)}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', '-g', String(FPS), '-b:v', bitrate, '-f', 'flv', file]);
  return splitFlv(readFileSync(file));
}

/** FLV: a 9-byte header and 4 bytes, then tags (11-byte header, data, 4-byte size). Each video frame's tag becomes one chunk. */
function splitFlv(flv: Buffer): { head: Buffer; frames: Buffer[] } {
  let at = flv.readUInt32BE(5) + 4;
  let headEnd = -1;
  const frames: Buffer[] = [];
  while (at + 11 <= flv.length) {
    const type = flv[at]!;
    const size = flv.readUIntBE(at + 1, 3);
    const end = at + 11 + size + 4;
    // Video tag: data[0] = frame type | codec, data[1] = AVC packet type (1 = a picture).
    const picture = type === 9 && flv[at + 12] === 1;
    if (picture) {
      if (headEnd < 0) headEnd = at;
      frames.push(flv.subarray(at, end));
    }
    at = end;
  }
  return { head: flv.subarray(0, headEnd), frames };
}

async function startServer(args: string[]): Promise<{ child: ChildProcess; http: string; rtmp: string }> {
  // The thread pool the shipped entry points give the server (npm start, the container image; see src/ingest/ffmpeg-readers.ts).
  const env = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '20' };
  const child = spawn(process.execPath, [...NODE_FLAGS, join(REPO, 'dist/bench/latency-server.js'), ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolveLine, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolveLine);
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  const ports = JSON.parse(line) as { http: number; rtmp: number };
  return { child, http: `http://127.0.0.1:${ports.http}`, rtmp: `rtmp://127.0.0.1:${ports.rtmp}/live` };
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Feeds the FLV to `ffmpeg -c copy` → RTMP, each frame's tag at its time
 * (frame n at start + n/30 s); `sent[n]` is when it went into the pipe.
 */
function publish(url: string, clip: { head: Buffer; frames: Buffer[] }): { sent: number[]; done: Promise<void>; child: ChildProcess } {
  const child = spawn('ffmpeg', ['-v', 'error', '-fflags', 'nobuffer', '-probesize', '32768', '-analyzeduration', '0', '-f', 'flv', '-i', 'pipe:0', '-c', 'copy', '-f', 'flv', url], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin!.on('error', () => {});
  const sent: number[] = [];
  const done = (async () => {
    child.stdin!.write(clip.head);
    const start = performance.now() + 100;
    for (const [n, tag] of clip.frames.entries()) {
      const wait = start + (n * 1000) / FPS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      child.stdin!.write(tag);
      sent[n] = performance.now();
    }
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
  })();
  return { sent, done, child };
}

interface Received {
  at: number;
  reading: ReturnType<typeof readStamp>;
}

/** A WHEP viewer: werift peer, RTP → whole frames (the server's own assembler), decoded by FFmpeg, stamps read. */
async function watch(http: string, key: string, height: number): Promise<{ received: Received[]; counts: Record<string, number>; close: () => Promise<void> }> {
  const pc = new RTCPeerConnection({
    codecs: { video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' })] },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const received: Received[] = [];
  const counts = { rtp: 0, frames: 0, needKeyframe: 0, decodeErrors: 0, pli: 0 };
  let lastPli = -Infinity;
  const codecpar = new CodecParameters();
  codecpar.alloc();
  codecpar.codecType = AVMEDIA_TYPE_VIDEO;
  codecpar.codecId = AV_CODEC_ID_H264;
  const stream = { index: 0, codecpar, timeBase: new Rational(1, 90000), avgFrameRate: new Rational(0, 1), rFrameRate: new Rational(0, 1) } as unknown as Stream;
  const decoder = await Decoder.create(stream, { threadCount: 1 });
  const assembler = new RtpFrameAssembler('H264');
  // Decoding is serialised; frames queue here in arrival order.
  let chain = Promise.resolve();
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      counts.rtp++;
      for (const out of assembler.processInput(rtp)) {
        if (!('frame' in out)) {
          counts.needKeyframe++;
          // A lost packet (loopback UDP drops some of a 720p keyframe's burst): ask for a keyframe, as a browser would.
          // Best effort, as a browser's: a request that cannot be sent is followed by the next one 300 ms later.
          const now = performance.now();
          if (now - lastPli > 300) {
            lastPli = now;
            counts.pli++;
            if (track.ssrc !== undefined) void pc.getTransceivers()[0]?.receiver.sendRtcpPLI(track.ssrc).catch(() => {});
          }
          continue;
        }
        counts.frames++;
        const { data, keyframe, timestamp } = out.frame;
        chain = chain.then(async () => {
          const packet = new Packet();
          packet.alloc();
          packet.data = data;
          packet.pts = BigInt(timestamp);
          packet.dts = BigInt(timestamp);
          packet.timeBase = new Rational(1, 90000);
          if (keyframe) packet.flags = AV_PKT_FLAG_KEY;
          try {
            for (const frame of await decoder.decodeAll(packet)) {
              const at = performance.now();
              received.push({ at, reading: readStamp(frame.data![0]!, frame.linesize[0]!, height) });
              frame.free();
            }
          } catch {
            // a damaged frame: the next keyframe repairs it
            counts.decodeErrors++;
          } finally {
            packet.free();
          }
        });
      }
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5000);
  const res = await fetch(`${http}/whep/${key}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) throw new Error(`WHEP: ${res.status} ${await res.text()}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return {
    received,
    get counts() {
      return { ...counts, lost: assembler.lost, skipped: assembler.skipped };
    },
    close: async () => {
      await pc.close();
      await chain;
      decoder.close();
    },
  };
}

/** An HLS viewer: polls the playlist, downloads each new segment, decodes it and reads the stamps; a frame's time is its segment's download. */
function watchHls(http: string, key: string, height: number, work: string): { received: Received[]; close: () => Promise<void> } {
  const received: Received[] = [];
  const seen = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const res = await fetch(`${http}/hls/${key}/index.m3u8`).catch(() => undefined);
      const playlist = res?.ok ? await res.text() : '';
      for (const name of playlist.split('\n').filter((line) => line !== '' && !line.startsWith('#'))) {
        if (seen.has(name)) continue;
        seen.add(name);
        const segment = await fetch(`${http}/hls/${key}/${name}`).catch(() => undefined);
        if (!segment?.ok) continue;
        const bytes = Buffer.from(await segment.arrayBuffer());
        const at = performance.now();
        const file = join(work, `hls-${name}`);
        writeFileSync(file, bytes);
        await using source = await FileSource.open(file);
        for await (const item of source.read()) {
          if (item.kind === 'video') {
            received.push({ at, reading: readStamp(item.frame.data![0]!, item.frame.linesize[0]!, height) });
            item.frame.free();
          } else item.packet.free();
        }
        rmSync(file, { force: true });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    received,
    close: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function streamStats(http: string, key: string): Promise<LiveStreamStats | undefined> {
  const list = (await (await fetch(`${http}/api/streams`)).json()) as { streams: LiveStreamStats[] };
  return list.streams.find((s) => s.key === key);
}

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface RunResult {
  run: Run;
  viewer: string;
  frames: number;
  originals: number;
  between: number;
  repeats: number;
  unreadable: number;
  latencies: number[];
  betweenLatencies: number[];
  server: LiveStreamStats;
  /** The server's own view: p50/p95/p99 of its added-latency histogram (arrival → sent), ms. */
  serverLatency: number[];
}

/** Quantiles from a Prometheus histogram's cumulative buckets, interpolated within a bucket (as histogram_quantile does). */
function histogramQuantiles(metrics: string, name: string, key: string, qs: number[]): number[] {
  const buckets = [...metrics.matchAll(new RegExp(`^${name}_bucket\\{stream="${key}",le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])] as const);
  const total = buckets.at(-1)?.[1] ?? 0;
  return qs.map((q) => {
    const rank = q * total;
    let [lo, below] = [0, 0];
    for (const [le, count] of buckets) {
      if (count >= rank) return le === Infinity ? lo * 1000 : (lo + ((le - lo) * (rank - below)) / Math.max(1, count - below)) * 1000;
      [lo, below] = [le, count];
    }
    return Number.NaN;
  });
}

async function measure(run: Run, clip: { head: Buffer; frames: Buffer[] }, height: number, viewers: string[], work: string): Promise<RunResult[]> {
  const server = await startServer(run.serverArgs);
  try {
    const key = 'bench';
    const publisher = run.ingest === 'whip' ? publishWhip(`${server.http}/whip/${key}`, clip, FPS) : publish(`${server.rtmp}/${key}`, clip);
    await until('the stream to go live', 15_000, async () => ((await streamStats(server.http, key))?.state === 'live' ? true : undefined));
    const whep = viewers.includes('whep') ? await watch(server.http, key, height) : undefined;
    const hls = viewers.includes('hls') ? watchHls(server.http, key, height, work) : undefined;
    await publisher.done;
    // HLS needs its last segment closed: the stream ends when the publisher does.
    await new Promise((r) => setTimeout(r, hls ? 2500 : 500));
    const stats = (await streamStats(server.http, key))!;
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    await whep?.close();
    await hls?.close();
    if (whep) process.stderr.write(`WHEP viewer: ${JSON.stringify(whep.counts)}, ${whep.received.length} decoded\n`);
    if (hls) process.stderr.write(`HLS viewer: ${hls.received.length} decoded\n`);
    const serverLatency = histogramQuantiles(metrics, 'frc_stream_added_latency_seconds', key, [0.5, 0.95, 0.99]);
    return [
      ...(whep ? [analyse(run, 'WHEP', whep.received, publisher.sent, stats, serverLatency)] : []),
      ...(hls ? [analyse(run, 'HLS', hls.received, publisher.sent, stats, serverLatency)] : []),
    ];
  } finally {
    await stopProcess(server.child);
  }
}

/** Matches each frame a viewer decoded with the input frame it derives from. */
function analyse(run: Run, viewer: string, received: Received[], sent: number[], stats: LiveStreamStats, serverLatency: number[]): RunResult {
  const t0 = sent[0]! + WARMUP_S * 1000;
  const seen = new Set<number>();
  const result: RunResult = { run, viewer, frames: 0, originals: 0, between: 0, repeats: 0, unreadable: 0, latencies: [], betweenLatencies: [], server: stats, serverLatency };
  // The stamp holds the frame number modulo 2^STAMP_BITS (68 s at 30 fps): longer runs are unwrapped
  // to the number nearest the last one read, as frames arrive in order give or take a few.
  // A blend across the wrap (2047 → 0) greys every bit, as 1023 → 1024 does: either may be meant.
  const period = 2 ** STAMP_BITS;
  let last = 0;
  const nearest = (n: number) => last + ((((n - last) % period) + period + period / 2) % period) - period / 2;
  const unwrap = (r: { kind: string; n: number }) => {
    const ambiguous = r.kind === 'between' && r.n === period / 2 - 1;
    const [a, b] = [nearest(r.n), ambiguous ? nearest(r.n + period / 2) : Infinity];
    return (last = Math.abs(a - last) <= Math.abs(b - last) ? a : b);
  };
  for (const { at, reading: stamped } of received) {
    if (stamped.kind === 'unreadable') {
      result.unreadable++;
      continue;
    }
    const reading = { ...stamped, n: unwrap(stamped) };
    // The input frame it derives from: itself, or for an in-between frame (and a repeat, which waited for it too) the next one.
    const repeat = reading.kind === 'frame' && seen.has(reading.n);
    const from = reading.kind === 'between' || repeat ? reading.n + 1 : reading.n;
    if (reading.kind === 'frame') seen.add(reading.n);
    const sentAt = sent[from];
    if (sentAt === undefined || sentAt < t0) continue;
    result.frames++;
    if (reading.kind === 'between') result.between++;
    else if (repeat) result.repeats++;
    else result.originals++;
    result.latencies.push(at - sentAt);
    if (reading.kind === 'between') result.betweenLatencies.push(at - sentAt);
  }
  return result;
}

/** autocannon against /api/streams for 10 s while a 480p blend stream runs: requests/s, and the stream's output rate before and during. */
async function hammer(clip: { head: Buffer; frames: Buffer[] }): Promise<string> {
  // autocannon ships no types; the little used here is typed by hand.
  const moduleName = 'autocannon';
  const { default: autocannon } = (await import(moduleName)) as { default: (opts: object) => Promise<{ requests: { average: number; total: number }; latency: { p99: number }; non2xx: number; errors: number }> };
  const server = await startServer(['--interp', 'blend', '--factor', '2']);
  try {
    const publisher = publish(`${server.rtmp}/api`, clip);
    await until('the stream to go live', 15_000, async () => ((await streamStats(server.http, 'api'))?.state === 'live' ? true : undefined));
    const sample = async (seconds: number) => {
      const rates: number[] = [];
      for (let i = 0; i < seconds; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        rates.push((await streamStats(server.http, 'api'))!.outputFps);
      }
      return rates;
    };
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const before = await sample(3);
    const dropsBefore = (await streamStats(server.http, 'api'))!;
    const [result, during] = await Promise.all([autocannon({ url: `${server.http}/api/streams`, connections: 10, duration: 10 }), sample(9)]);
    const after = (await streamStats(server.http, 'api'))!;
    await stopProcess(publisher.child, 'SIGKILL');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return [
      `| requests/s (mean) | total | p99 ms | non-2xx | errors | stream out fps before | during | ring drops during | fallbacks during |`,
      `|---|---|---|---|---|---|---|---|---|`,
      `| ${result.requests.average.toFixed(0)} | ${result.requests.total} | ${result.latency.p99} | ${result.non2xx} | ${result.errors} | ${mean(before).toFixed(1)} (${before.join(', ')}) | ${mean(during).toFixed(1)} (${during.join(', ')}) | ${after.ringDrops - dropsBefore.ringDrops} | ${after.fallbacks - dropsBefore.fallbacks} |`,
    ].join('\n');
  } finally {
    await stopProcess(server.child);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string' }, seconds: { type: 'string' }, runs: { type: 'string' }, viewers: { type: 'string' }, ingest: { type: 'string' }, 'deadline-ms': { type: 'string' }, threads: { type: 'string' }, 'encoder-preset': { type: 'string' }, 'video-bitrate-kbps': { type: 'string' }, model: { type: 'string' }, 'no-autocannon': { type: 'boolean' } } });
  const viewers = (values.viewers ?? 'whep,hls').split(',');
  const ingests = (values.ingest ?? 'rtmp,whip').split(',') as Run['ingest'][];
  const seconds = Number(values.seconds ?? 20);
  const kinds = (values.runs ?? `pass,blend${existsSync(DEFAULT_MODEL_PATH) ? ',model' : ''}`).split(',');
  const work = mkdtempSync(join(tmpdir(), 'frc-latency-'));
  const rows: string[] = [];
  let apiTable = '';
  try {
    // Server options passed through: the preset to every run, the engine's to the runs that interpolate.
    const preset = [
      ...(values['encoder-preset'] ? ['--encoder-preset', values['encoder-preset']] : []),
      ...(values['video-bitrate-kbps'] ? ['--video-bitrate-kbps', values['video-bitrate-kbps']] : []),
    ];
    const engine = [...(values['deadline-ms'] ? ['--deadline-ms', values['deadline-ms']] : []), ...(values.threads ? ['--threads', values.threads] : [])];
    const sizes = (values.sizes ?? '480,720').split(',');
    const unknown = sizes.filter((s) => !SIZES[s]);
    if (unknown.length > 0) throw new Error(`--sizes: unknown size ${unknown.join(', ')} (known: ${Object.keys(SIZES).join(', ')})`);
    for (const size of sizes) {
      const clip = prepareClip(work, size, seconds * FPS);
      for (const kind of kinds) {
        const model = kind === 'model' && values.model ? ['--model', resolveModelPath(values.model)] : [];
        const serverArgs = kind === 'pass' ? ['--interp', 'dup', '--factor', '1', ...preset] : ['--interp', kind, '--factor', '2', ...model, ...engine, ...preset];
        for (const ingest of ingests)
        for (const r of await measure({ size, label: kind === 'pass' ? 'pass-through (factor 1)' : model.length ? `model (${values.model})` : kind, serverArgs, ingest }, clip, SIZES[size]![1], viewers, work)) {
          const sorted = [...r.latencies].sort((a, b) => a - b);
          const s = r.server;
          const synthesized = s.interpolated + s.fallbacks;
          const share = (n: number) => (synthesized ? `${((100 * n) / synthesized).toFixed(1)} %` : '—');
          const reasons = s.fallbackFrames.map((f) => `${f.frames} ${f.reason}→${f.synthesizer}`).join(', ') || '0';
          // Every synthesized slot by the rung of the ladder that rendered it, the top rung's own included.
          const rungs = (s.rungFrames.map((f) => `${f.rung} ${share(f.frames)}`).join(', ') || '—') + (s.warmUpMs ? `; warm-up ${s.warmUpMs.toFixed(0)} ms` : '');
          // Drift: the median latency of each fifth of the run (frames in arrival order).
          const fifth = Math.floor(r.latencies.length / 5);
          const p50 = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5).toFixed(1);
          const drift = fifth > 0 ? [0, 1, 2, 3, 4].map((i) => p50(r.latencies.slice(i * fifth, (i + 1) * fifth))).join(' / ') : '—';
          rows.push(
            `| ${size}p | ${r.run.label} | ${r.run.ingest.toUpperCase()} → ${r.viewer} | ${r.frames} (${r.originals} orig, ${r.between} between, ${r.repeats} repeats, ${r.unreadable} unreadable) | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.95).toFixed(1)} | ${quantile(sorted, 0.99).toFixed(1)} | ${drift} | ${r.serverLatency.map((v) => v.toFixed(0)).join(' / ')} | ${share(s.interpolated)} | ${share(s.fallbacks)} (${reasons}) | ${rungs} | ${s.lateFrames} | ${s.ringDrops} | ${s.framesIn} → ${s.framesOut} |`,
          );
          process.stderr.write(`${size}p ${kind}: ${rows.at(-1)}\n`);
        }
      }
      if (size === '480' && !values['no-autocannon']) apiTable = await hammer(clip);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(
    [
      `Latency, RTMP (ffmpeg -c copy) or WHIP (werift) in → WHEP (werift) or HLS out, 30 fps in — ${today()}, ${machine()}`,
      '',
      '| size | server | path | frames measured at the viewer | added latency p50 ms | p95 | p99 | p50 by fifth of the run | server-side p50 / p95 / p99 ms (histogram) | slots interpolated | slots by fallback | slots by rung | late | ring drops | server frames in → out |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      apiTable,
    ].join('\n') + '\n',
  );
  process.exit(0);
}

await main();
