import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { AuthHook } from '../../src/server/auth-hook.js';

/** A hook service on 127.0.0.1 answering with `answer(body)`; it records every body it gets. */
async function hookService(t: { after(fn: () => unknown): void }, answer: (body: Record<string, unknown>, res: ServerResponse) => void) {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      bodies.push({ ...body, contentType: req.headers['content-type'], method: req.method });
      answer(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/auth`, bodies };
}

test('the hook gets the query as JSON and its status decides: 2xx allows, 4xx refuses (403), 5xx refuses as unavailable (503)', async (t) => {
  const statuses: Record<string, number> = { good: 204, bad: 401, broken: 500 };
  const service = await hookService(t, (body, res) => {
    res.statusCode = statuses[String(body.key)] ?? 403;
    res.end('reason the client must not see');
  });
  const hook = new AuthHook({ url: service.url });
  const query = { action: 'publish', protocol: 'whip', token: 's3cret', ip: '127.0.0.1' } as const;
  assert.deepEqual(await hook.check({ ...query, key: 'good' }), { allowed: true });
  assert.deepEqual(await hook.check({ ...query, key: 'bad' }), { allowed: false, status: 403, reason: 'refused by the authentication service' });
  const broken = await hook.check({ ...query, key: 'broken' });
  assert.equal(broken.allowed === false && broken.status, 503);
  assert.deepEqual(service.bodies[0], { ...query, key: 'good', contentType: 'application/json', method: 'POST' });
});

test('a hook that is down or too slow refuses (fails closed) with 503, and says why in the log without the query', async (t) => {
  const slow = await hookService(t, (_body, res) => setTimeout(() => res.end(), 1000));
  const warnings: string[] = [];
  const late = await new AuthHook({ url: slow.url, timeoutMs: 100, warn: (m) => warnings.push(m) }).check({ action: 'read', protocol: 'whep', key: 'cam', token: 'v1ew' });
  assert.equal(late.allowed === false && late.status, 503);
  assert.match(warnings[0]!, /no answer within 100 ms/);
  // A port nothing listens on.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise((resolve) => closed.close(resolve));
  const down = await new AuthHook({ url: `http://127.0.0.1:${port}/`, warn: (m) => warnings.push(m) }).check({ action: 'publish', protocol: 'rtmp', key: 'cam' });
  assert.equal(down.allowed === false && down.status, 503);
  assert.match(warnings[1]!, /ECONNREFUSED/);
  assert.ok(!warnings.join('\n').includes('v1ew'));
});
