import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, configFlagOptions, configKeys, loadConfig, redacted } from '../../src/config/load-config.js';
import { serveOptionsFrom } from '../../src/config/serve-options.js';

const file = (text: string) => ({ path: 'frc.yml', text });
const fails = (sources: Parameters<typeof loadConfig>[0], message: RegExp) =>
  assert.throws(() => loadConfig(sources), (error: Error) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.message, message);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    return true;
  });

test('defaults come from the schema', () => {
  const config = loadConfig();
  assert.equal(config.httpPort, 8080);
  assert.equal(config.rtmpPort, 1935);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.model, 'fast');
  assert.equal(config.deadline, true);
  assert.equal(config.drainSeconds, 30);
  assert.equal(config.limits.maxStreams, 16);
  assert.equal(config.token, undefined);
  assert.deepEqual(config.streams, {});
});

test('precedence: defaults < file < FRC_ variables < flags', () => {
  const text = 'httpPort: 9000\nrtmpPort: 1936\nlimits:\n  maxStreams: 4\n  maxViewersPerStream: 7\nstreams:\n  cam:\n    token: from-file\n    model: quality\n';
  const env = { FRC_RTMP_PORT: '1937', FRC_LIMITS_MAX_STREAMS: '5', FRC_DEADLINE: 'false', PATH: '/bin', FRC_DEBUG: '1' };
  const config = loadConfig({ file: file(text), env, flags: { 'max-streams': '6', 'admin-token': 'adm' } });
  assert.equal(config.httpPort, 9000);
  assert.equal(config.rtmpPort, 1937);
  assert.equal(config.limits.maxStreams, 6);
  assert.equal(config.limits.maxViewersPerStream, 7);
  assert.equal(config.deadline, false);
  assert.equal(config.admin.token, 'adm');
  assert.deepEqual(config.streams, { cam: { token: 'from-file', model: 'quality' } });
  // --no-deadline beats a file's true; a map in a variable is merged over the file's, key by key.
  const more = loadConfig({ file: file('deadline: true\nstreams: {cam: {factor: 3}}'), env: { FRC_STREAMS: '{game: {maxWidth: 1920}}' }, flags: { 'no-deadline': true } });
  assert.equal(more.deadline, false);
  assert.deepEqual(more.streams, { cam: { factor: 3 }, game: { maxWidth: 1920 } });
});

test('unknown keys, wrong types and bad YAML are one-line errors naming the source and key', () => {
  fails({ file: file('limits:\n  maxStream: 3\n') }, /^frc\.yml: unknown key "limits\.maxStream" \(did you mean "limits\.maxStreams"\?\)$/);
  fails({ file: file('htpPort: 80\n') }, /unknown key "htpPort" \(did you mean "httpPort"\?\)/);
  fails({ file: file('httpPort: "8080"\n') }, /^frc\.yml: httpPort must be a port number \(0–65535\), got "8080"$/);
  fails({ file: file('httpPort: 70000\n') }, /httpPort must be a port number/);
  fails({ file: file('factor: 1.5\n') }, /factor must be a whole number ≥ 1 and ≤ 16, got 1\.5/);
  fails({ file: file('deadline: maybe\n') }, /deadline must be true or false, got "maybe"/);
  fails({ file: file('provider: tpu\n') }, /provider must be one of auto, cpu, webgpu, cuda, tensorrt, got "tpu"/);
  fails({ flags: { 'encoder-preset': 'placebo' } }, /--encoder-preset must be one of auto, ultrafast, superfast, veryfast, faster, fast, medium, got "placebo"/);
  fails({ file: file('limits: 5\n') }, /limits must be a mapping of keys, got 5/);
  fails({ file: file('- a\n- b\n') }, /the file must be a mapping of keys, got a list/);
  fails({ file: file('streams:\n  cam:\n    tokn: x\n') }, /unknown key "streams\.cam\.tokn" \(did you mean "streams\.cam\.token"\?\)/);
  fails({ file: file('streams:\n  "../x": {}\n') }, /"\.\.\/x" is not a stream key/);
  fails({ file: file('httpPort: [1\n') }, /^frc\.yml: not valid YAML: line \d+/);
  fails({ env: { FRC_HTTP_PROT: '1' } }, /^environment: unknown variable FRC_HTTP_PROT \(did you mean "FRC_HTTP_PORT"\?\)$/);
  fails({ env: { FRC_HTTP_PORT: 'eighty' } }, /^environment: FRC_HTTP_PORT must be a port number \(0–65535\), got "eighty"$/);
  fails({ env: { FRC_TEST_PATTERN: 'sure' } }, /FRC_TEST_PATTERN must be true or false/);
  fails({ flags: { 'max-streams': '0' } }, /^--max-streams must be a whole number ≥ 1, got 0$/);
  fails({ flags: { streams: '{cam: [' } }, /--streams must be YAML or JSON/);
  assert.throws(() => serveOptionsFrom(loadConfig({ flags: { push: 'http://x' } })), /push must be an RTMP URL/);
  assert.throws(() => serveOptionsFrom(loadConfig({ env: { FRC_AUTH_HOOK_URL: 'ftp://auth' } })), /authHook.url must be an http/);
  assert.equal(serveOptionsFrom(loadConfig({ flags: { 'no-flow-correction': true } })).flowCorrection, false);
  assert.deepEqual(serveOptionsFrom(loadConfig({ env: { FRC_TRUSTED_PROXIES: '10.0.0.2, ::1' } })).trustedProxies, ['10.0.0.2', '::1']);
  assert.throws(() => serveOptionsFrom(loadConfig({ flags: { 'trusted-proxies': 'proxy.internal' } })), /trustedProxies must be IP addresses, got "proxy.internal"/);
  assert.equal(serveOptionsFrom(loadConfig()).trustedProxies, undefined);
  // An empty file, or keys left empty, mean the defaults.
  assert.equal(loadConfig({ file: file('') }).httpPort, 8080);
  assert.equal(loadConfig({ file: file('httpPort:\nadmin:\n') }).httpPort, 8080);
});

test('every key has its own FRC_ variable and flag, and flags do not clash with the other commands\' options', () => {
  const keys = configKeys();
  assert.equal(new Set(keys.map((k) => k.env)).size, keys.length);
  assert.equal(new Set(keys.map((k) => k.flag)).size, keys.length);
  for (const k of keys) assert.match(k.env, /^FRC_[A-Z0-9_]+$/);
  const flags = Object.keys(configFlagOptions());
  for (const other of ['config', 'docs', 'fps', 'interp', 'json', 'help']) assert.ok(!flags.includes(other), other);
  assert.ok(keys.some((k) => k.path === 'limits.maxStreams' && k.env === 'FRC_LIMITS_MAX_STREAMS' && k.flag === 'max-streams'));
});

test('secrets are redacted when the config is printed', () => {
  const config = loadConfig({ flags: { token: 'pub-secret', 'admin-token': 'adm-secret', streams: '{cam: {token: cam-secret, viewToken: view-secret, factor: 3}}' } });
  const text = JSON.stringify(redacted(config));
  for (const secret of ['pub-secret', 'adm-secret', 'cam-secret', 'view-secret']) assert.ok(!text.includes(secret), secret);
  assert.match(text, /"factor":3/);
  assert.match(text, /<redacted>/);
});

test('the auth hook, bitrate limits and recording reach the server options, per key too', () => {
  const options = serveOptionsFrom(
    loadConfig({
      file: file('authHook:\n  url: http://auth.internal/frc\nrecordDir: /var/lib/frc\nstreams:\n  cam:\n    record: true\n    maxBitrateKbps: 8000\n'),
      env: { FRC_LIMITS_MAX_BITRATE_KBPS: '20000' },
      flags: { 'auth-hook-timeout-ms': '500' },
    }),
  );
  assert.deepEqual(options.authHook, { url: 'http://auth.internal/frc', timeoutMs: 500 });
  assert.equal(options.limits?.maxBitrateKbps, 20_000);
  assert.equal(options.record, false);
  assert.equal(options.recordDir, '/var/lib/frc');
  assert.deepEqual(options.streams?.cam, { record: true, maxBitrateKbps: 8000 });
  assert.equal(serveOptionsFrom(loadConfig()).authHook, undefined);
  assert.equal(serveOptionsFrom(loadConfig()).encoderPreset, 'auto');
  assert.equal(serveOptionsFrom(loadConfig({ env: { FRC_ENCODER_PRESET: 'ultrafast' } })).encoderPreset, 'ultrafast');
  assert.deepEqual(serveOptionsFrom(loadConfig({ env: { FRC_STREAMS: '{"cam": {"encoderPreset": "ultrafast"}}' } })).streams?.cam, { encoderPreset: 'ultrafast' });
});

test('the test pattern: off by default; --test-pattern publishes the motion pattern on "test", --test-pattern-kind testsrc2 the small test card', () => {
  assert.equal(serveOptionsFrom(loadConfig()).testPattern, undefined);
  const motion = serveOptionsFrom(loadConfig({ flags: { 'test-pattern': true } }));
  assert.equal(motion.testPattern, 'test');
  assert.equal(motion.testPatternKind, 'motion');
  assert.equal(serveOptionsFrom(loadConfig({ flags: { 'test-pattern': true, 'test-pattern-kind': 'testsrc2' } })).testPatternKind, 'testsrc2');
  assert.equal(loadConfig({ env: { FRC_TEST_PATTERN_KIND: 'testsrc2' } }).testPatternKind, 'testsrc2');
  fails({ flags: { 'test-pattern-kind': 'smpte' } }, /test-pattern-kind must be one of motion, testsrc2/);
});

test('pull: a mapping in the file, KEY=URL pairs in FRC_PULL, --pull repeatable, merged key by key; passwords never shown', () => {
  const config = loadConfig({
    file: file('pull:\n  cam: rtsp://admin:hunter2@10.0.0.5/stream\n  feed: udp://127.0.0.1:5000\n'),
    env: { FRC_PULL: 'feed=udp://127.0.0.1:6000 hls=https://example.com/live.m3u8' },
    flags: { pull: ['clip=videos/a.mp4?loop', 'srt=srt://10.0.0.6:9000?passphrase=secret123'] },
  });
  assert.deepEqual(config.pull, {
    cam: 'rtsp://admin:hunter2@10.0.0.5/stream',
    feed: 'udp://127.0.0.1:6000',
    hls: 'https://example.com/live.m3u8',
    clip: 'videos/a.mp4?loop',
    srt: 'srt://10.0.0.6:9000?passphrase=secret123',
  });
  const shown = JSON.stringify(redacted(config));
  assert.ok(!shown.includes('hunter2') && !shown.includes('secret123'), shown);
  assert.match(shown, /rtsp:\/\/admin:\*\*\*@10\.0\.0\.5\/stream/);
  assert.equal(configFlagOptions().pull?.multiple, true);
  fails({ flags: { pull: ['cam'] } }, /^--pull must be KEY=URL \(e\.g\. cam=rtsp:\/\/10\.0\.0\.5\/stream\), got "cam"$/);
  fails({ flags: { pull: ['a b=udp://x'] } }, /--pull must be KEY=URL/);
  fails({ flags: { pull: ['ca/m=udp://x'] } }, /^--pull: "ca\/m" is not a stream key/);
  fails({ file: file('pull: [rtsp://x]') }, /^frc\.yml: pull must be a mapping of stream keys to URLs, got a list$/);
  fails({ file: file('pull: {cam: 5}') }, /^frc\.yml: pull\.cam must be a URL or a file path, got 5$/);
  assert.throws(() => serveOptionsFrom(loadConfig({ flags: { pull: ['clip=/nonexistent/a.mp4?loop'] } })), /^Error: pull\.clip: no such file: \/nonexistent\/a\.mp4$|pull\.clip: no such file: \/nonexistent\/a\.mp4/);
  const options = serveOptionsFrom(loadConfig({ flags: { pull: ['cam=udp://127.0.0.1:5000'], 'pull-timeout-seconds': '2' } }));
  assert.deepEqual(options.pull, { cam: 'udp://127.0.0.1:5000' });
  assert.equal(options.pullStallMs, 2000);
});
