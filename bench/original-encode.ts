/**
 * What watching the original costs when it is encoded for WebRTC (a source
 * that is neither H.264 nor VP8: the test pattern, HEVC, MPEG-2…): the
 * original's encoder (x264 ultrafast, zerolatency, as src/live/original-encoder.ts
 * opens it) on 720p frames of the birds clip at 30 fps, at the output's
 * bitrate (what it takes now) and at half of it (what it took first). CPU
 * per frame, keyframes included, and the bitrate that came out; runs
 * alternate, twice each.
 *
 *   node dist/bench/original-encode.js [--frames 90]
 */
import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Frame } from 'node-av/lib';
import { defaultBitrateKbps, LiveH264Encoder } from '../src/egress/live-h264.js';
import { FileSource } from '../src/ingest/file-source.js';
import { machine, today } from './common.js';

const REPO = resolve(new URL('../..', import.meta.url).pathname);
const SOURCE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage/birds_animation_720p30_wp2022.mp4');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { frames: { type: 'string' } } });
  const count = Number(values.frames ?? 90);
  const work = mkdtempSync(join(tmpdir(), 'frc-original-'));
  const frames: Frame[] = [];
  try {
    const clip = join(work, 'clip720.mkv');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', SOURCE, '-an', '-frames:v', String(count), '-vf', 'scale=1280:720', '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
    {
      await using source = await FileSource.open(clip);
      for await (const item of source.read()) if (item.kind === 'video') frames.push(item.frame);
    }
    const output = defaultBitrateKbps(1280, 720, 60);
    const rows: string[] = [];
    for (const kbps of [output, Math.round(output / 2), output, Math.round(output / 2)]) {
      using encoder = await LiveH264Encoder.open({ fps: 30, preset: 'ultrafast', keyframeSeconds: 2, bitrateKbps: kbps });
      let bits = 0;
      const cpu0 = process.cpuUsage();
      for (const [i, frame] of frames.entries()) {
        const own = frame.clone()!;
        own.pts = BigInt(i);
        own.timeBase = { num: 1, den: 30 } as Frame['timeBase'];
        for (const packet of await encoder.encode(own)) (bits += 8 * packet.size), packet.free();
        own.free();
      }
      const cpu = process.cpuUsage(cpu0);
      rows.push(`| ${kbps} | ${((cpu.user + cpu.system) / 1000 / frames.length).toFixed(2)} | ${Math.round((bits * 30) / frames.length / 1000)} |`);
      console.error(rows.at(-1));
    }
    console.log(`\n${today()}, ${machine()}, ${frames.length} frames per run (\`node dist/bench/original-encode.js ${process.argv.slice(2).join(' ')}\`)\n`);
    console.log('| cap kbit/s | CPU ms per 720p frame | kbit/s out |');
    console.log('|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    for (const f of frames) f.free();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
