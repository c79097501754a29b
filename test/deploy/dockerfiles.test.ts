import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DockerfileParser } from 'dockerfile-ast';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { REPO } from '../helpers.js';
import { rtmpCapacity } from '../../src/ingest/ffmpeg-readers.js';
import { DEFAULT_LIMITS } from '../../src/config/serve-options.js';

/**
 * The Dockerfiles, linted without Docker: `dockerfile-utils` (the linter
 * behind the VS Code Docker extension) for syntax and instruction errors,
 * then this project's rules on the parsed file (`dockerfile-ast`): pinned
 * base images, multi-stage, a non-root USER, a HEALTHCHECK on /healthz,
 * the models baked in, apt packages pinned and their lists removed.
 */
/** Everything the linter can flag, as an error. */
const STRICT: ValidatorSettings = Object.fromEntries(
  ['deprecatedMaintainer', 'directiveCasing', 'emptyContinuationLine', 'instructionCasing', 'instructionCmdMultiple', 'instructionEntrypointMultiple', 'instructionHealthcheckMultiple', 'instructionJSONInSingleQuotes', 'instructionWorkdirRelative'].map((k) => [k, ValidationSeverity.ERROR]),
);

for (const name of ['Dockerfile', 'Dockerfile.cuda']) {
  const text = readFileSync(join(REPO, 'deploy', name), 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const instructions = dockerfile.getInstructions();
  // The whole instruction text past its keyword, flags (COPY --from=…) included.
  const args = (keyword: string) => instructions.filter((i) => i.getKeyword() === keyword).map((i) => i.getTextContent().slice(i.getInstruction().length).trim());

  test(`${name}: the linter reports no problems`, () => {
    const problems = validate(text, STRICT);
    assert.deepEqual(problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`), []);
  });

  test(`${name}: multi-stage, base images pinned to exact versions`, () => {
    const froms = dockerfile.getFROMs();
    assert.ok(froms.length >= 2, 'multi-stage');
    const stages = froms.map((f) => f.getBuildStage());
    for (const from of froms) {
      const image = from.getImageName()!;
      if (stages.includes(image)) continue; // FROM an earlier stage
      const tag = from.getImageTag() ?? '';
      assert.ok(from.getImageDigest() || /^\d+\.\d+\.\d+-/.test(tag), `${image}:${tag} is not pinned to an exact version`);
      assert.notEqual(tag, 'latest');
    }
    // The runtime stage is the last, and copies from the build stage.
    assert.equal(stages[stages.length - 1], 'runtime');
    assert.ok(args('COPY').some((a) => a.includes('--from=build')));
  });

  test(`${name}: runs as a non-root user with a health check on /healthz`, () => {
    const lastFrom = instructions.lastIndexOf(dockerfile.getFROMs().at(-1)!);
    const runtime = instructions.slice(lastFrom);
    const users = runtime.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArgumentsContent()!);
    assert.equal(users.length, 1, 'one USER in the runtime stage');
    assert.ok(!/^(root|0)(:|$)/.test(users[0]!), `USER ${users[0]}`);
    // USER comes before the process starts and after the last RUN as root.
    const userAt = runtime.findIndex((i) => i.getKeyword() === 'USER');
    assert.ok(runtime.slice(userAt).every((i) => i.getKeyword() !== 'RUN'), 'nothing runs as root after USER');
    const health = args('HEALTHCHECK');
    assert.equal(health.length, 1);
    assert.match(health[0]!, /\/healthz/);
    assert.match(args('ENTRYPOINT')[0]!, /dist\/src\/cli\.js/);
    assert.deepEqual(args('CMD'), ['["serve"]']);
    assert.ok(args('COPY').some((a) => /\bmodels\b/.test(a)), 'models baked in');
    assert.ok(args('ENV').some((a) => a.includes('FRC_HOST=0.0.0.0')), 'listens beyond the container');
    // Room in libuv's pool for the default limits.maxStreams RTMP streams in codecs FFmpeg reads (one thread each) and their work.
    const pool = Number(/UV_THREADPOOL_SIZE=(\d+)/.exec(args('ENV').join(' '))?.[1]);
    assert.ok(rtmpCapacity(pool) >= DEFAULT_LIMITS.maxStreams, `UV_THREADPOOL_SIZE=${pool}`);
  });

  test(`${name}: apt packages pinned, no recommends, lists removed`, () => {
    for (const run of args('RUN').filter((a) => a.includes('apt-get install'))) {
      assert.match(run, /--no-install-recommends/);
      assert.match(run, /rm -rf \/var\/lib\/apt\/lists/);
      const packages = run.split('install')[1]!.split('&&')[0]!.split(/\s+/).filter((w) => w && !w.startsWith('-') && w !== '\\');
      for (const pkg of packages) assert.match(pkg, /=/, `${pkg} is not pinned`);
    }
  });
}

test('the linter is real: it reports an unknown instruction, a second HEALTHCHECK and a relative WORKDIR', () => {
  const problems = validate('FROM node:20.20.2-bookworm-slim\nUSR node\nWORKDIR app\nHEALTHCHECK CMD a\nHEALTHCHECK CMD b\n', STRICT).map((p) => String(p.message));
  assert.ok(problems.some((m) => /unknown instruction/i.test(m)), problems.join('; '));
  assert.ok(problems.some((m) => /HEALTHCHECK/.test(m)), problems.join('; '));
  assert.ok(problems.some((m) => /WORKDIR/i.test(m)), problems.join('; '));
});
