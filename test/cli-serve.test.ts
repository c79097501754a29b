import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, runCli, tempDir } from './helpers.js';

test('frc serve: a bad config file is one line and exit code 2', async (t) => {
  const path = join(tempDir(t), 'frc.yml');
  writeFileSync(path, 'limits:\n  maxStream: 3\n');
  const run = await runCli(['serve', '--config', path], 30_000);
  assert.equal(run.code, 2);
  assert.equal(run.stderr.trim().split('\n')[0], `frc: error: ${path}: unknown key "limits.maxStream" (did you mean "limits.maxStreams"?)`);
  const missing = await runCli(['serve', '--config', join(tempDir(t), 'nope.yml')], 30_000);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the config file .*nope\.yml: ENOENT/);
});

test('frc serve: a port in use is one line naming the setting', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const run = await runCli(['serve', '--model', 'blend', '--http-port', String(port), '--rtmp-port', '0'], 30_000);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`^frc: error: httpPort ${port} on 127\\.0\\.0\\.1 is already in use$`, 'm'));
});

test('frc serve: config file, FRC_ variables and flags together; SIGTERM drains and exits 0', async (t) => {
  const path = join(tempDir(t), 'frc.yml');
  writeFileSync(path, 'httpPort: 0\nrtmpPort: 0\nmodel: blend\ndrainSeconds: 5\nlimits:\n  maxStreams: 1\n');
  const child = spawn(process.execPath, [CLI, 'serve', '--config', path, '--admin-token', 'adm1n-s3cret'], {
    env: { ...process.env, FRC_TOKEN: 'pub-s3cret', FRC_LIMITS_REQUEST_BURST: '500' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const m = /open (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
  });
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  // The admin token from the flag guards the admin API; the publish token from the variable guards WHIP.
  assert.equal((await fetch(`${base}/api/streams`)).status, 401);
  assert.equal((await fetch(`${base}/api/streams`, { headers: { Authorization: 'Bearer adm1n-s3cret' } })).status, 200);
  const whip = await fetch(`${base}/whip/cam`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer wrong' }, body: 'v=0\r\n' });
  assert.equal(whip.status, 401);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  const lines = stderr.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; config?: { limits: { maxStreams: number; requestBurst: number } } });
  const config = lines.find((line) => line.config)!.config!;
  assert.equal(config.limits.maxStreams, 1);
  assert.equal(config.limits.requestBurst, 500);
  assert.ok(lines.some((line) => /SIGTERM: draining for up to 5 s/.test(line.msg)), stderr);
  // Nothing secret reached the log.
  for (const secret of ['adm1n-s3cret', 'pub-s3cret', 'wrong']) assert.ok(!stderr.includes(secret), secret);
});

test('frc config: --pull is repeatable, merged over the file, passwords hidden; a missing file is one line', async (t) => {
  const path = join(tempDir(t), 'frc.yml');
  writeFileSync(path, 'pull:\n  cam: rtsp://admin:hunter2@10.0.0.5/stream\n');
  const run = await runCli(['config', '--config', path, '--pull', 'feed=udp://127.0.0.1:5000', '--pull', 'relay=https://example.com/live.m3u8'], 30_000);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /pull:\n {2}cam: rtsp:\/\/admin:\*\*\*@10\.0\.0\.5\/stream\n {2}feed: udp:\/\/127\.0\.0\.1:5000\n {2}relay: https:\/\/example\.com\/live\.m3u8\n/);
  assert.ok(!run.stdout.includes('hunter2'));
  const missing = await runCli(['serve', '--pull', 'clip=/nonexistent/clip.mp4?loop'], 30_000);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^frc: error: pull\.clip: no such file: \/nonexistent\/clip\.mp4$/m);
});
