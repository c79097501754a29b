import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { missingNodeFlags, NODE_FLAGS } from '../../src/base/node-flags.js';
import { REPO } from '../helpers.js';

const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

test("every launcher of the server starts Node with frc's flags: the CLI's shebang, npm start and the container", () => {
  const shebang = read('src/cli.ts').split('\n')[0]!;
  assert.match(shebang, /^#!\/usr\/bin\/env -S node /);
  const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
  const entrypoint = (file: string) => {
    const line = /^ENTRYPOINT (\[.*\])$/m.exec(read(file))?.[1];
    assert.ok(line, `${file} has an exec-form ENTRYPOINT`);
    return JSON.parse(line) as string[];
  };
  const launchers: [string, string[]][] = [
    ['the shebang', shebang.split(' ').slice(2)],
    ['npm start', start.split(' ')],
    ['the container', entrypoint('deploy/Dockerfile')],
    ['the CUDA container', entrypoint('deploy/Dockerfile.cuda')],
  ];
  for (const [name, argv] of launchers) assert.deepEqual(missingNodeFlags(argv), [], `${name}: ${argv.join(' ')}`);
});

test('Node accepts the flags, and a process reports those it was started without', () => {
  const run = spawnSync(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', `import { missingNodeFlags } from ${JSON.stringify(join(REPO, 'dist/src/base/node-flags.js'))}; console.log(JSON.stringify(missingNodeFlags()));`], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), []);
  assert.deepEqual(missingNodeFlags(['--inspect']), [...NODE_FLAGS]);
});
