import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';

/** The temp HLS directory of a server killed with SIGKILL (issue #28, "Degraded"): the next server to start deletes it. */

test('a server killed with SIGKILL leaves its HLS directory; the next one to start deletes it, and keeps those of servers still running', async (t) => {
  const dir = tempDir(t);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const roots = () => readdirSync(tmp).filter((name) => name.startsWith('frc-live-'));
  const serve = () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'blend', '--http-port', '0', '--rtmp-port', '0'], { env: { ...process.env, TMPDIR: tmp }, stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    return child;
  };
  const killed = serve();
  const [killedRoot] = await until('the first server\'s HLS root', 20_000, async () => (roots().length === 1 ? roots() : undefined));
  const running = serve();
  const runningRoot = await until('the second server\'s HLS root', 20_000, async () => roots().find((name) => name !== killedRoot));
  killed.kill('SIGKILL');
  await new Promise((resolve) => killed.once('exit', resolve));
  // One from long ago that says nothing of its owner, and one just made (its server may be writing its owner file now).
  mkdirSync(join(tmp, 'frc-live-unowned-old'));
  utimesSync(join(tmp, 'frc-live-unowned-old'), new Date('2020-01-01'), new Date('2020-01-01'));
  mkdirSync(join(tmp, 'frc-live-unowned-new'));
  assert.ok(existsSync(join(tmp, killedRoot!)), 'SIGKILL left the root behind');

  const previous = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  t.after(() => (previous === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = previous)));
  const { log } = await startServer(t);
  const left = roots();
  t.diagnostic(`before: ${killedRoot}, ${runningRoot}, frc-live-unowned-old, frc-live-unowned-new; after the start: ${left.join(', ')}; ${log.lines.find((line) => line.includes('HLS director')) ?? 'nothing logged'}`);
  assert.ok(!left.includes(killedRoot!), "the killed server's root is gone");
  assert.ok(!left.includes('frc-live-unowned-old'), 'an ownerless root a day old is gone');
  assert.ok(left.includes(runningRoot!), "a running server's root stays");
  assert.ok(left.includes('frc-live-unowned-new'), 'a fresh ownerless root stays');
  assert.ok(log.lines.some((line) => line.includes('removed 2 HLS directories left by servers no longer running')));
  running.kill('SIGKILL');
});
