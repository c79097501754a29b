import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventLoopDelay } from '../../src/metrics/process-metrics.js';

function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('the event-loop delay shows a blocked loop, and a later window no longer does', async () => {
  const monitor = new EventLoopDelay(300);
  try {
    await sleep(20);
    block(80);
    await sleep(20);
    // Before the first window ends: the time so far, stall included.
    const during = monitor.figures();
    assert.ok(during && during.maxSeconds >= 0.07, JSON.stringify(during));
    assert.ok(during.p50Seconds < 0.05, JSON.stringify(during));
    // Two windows on, the stall has left the figures.
    await sleep(700);
    const after = monitor.figures();
    assert.ok(after && after.maxSeconds < 0.05, JSON.stringify(after));
  } finally {
    monitor.close();
  }
});
