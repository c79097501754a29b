import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpus } from 'node:os';
import { idleCoresBetween, MachineLoad } from '../../src/metrics/machine-load.js';

test('idle cores are the idle share of the time that passed, in cores', () => {
  // Two cores: 2000 ms of CPU time passed in all, 1000 of it idle, so one core's worth.
  assert.equal(idleCoresBetween({ idle: 100, total: 1000 }, { idle: 1100, total: 3000 }, 2), 1);
  assert.equal(idleCoresBetween({ idle: 0, total: 0 }, { idle: 0, total: 2000 }, 2), 0);
  assert.equal(idleCoresBetween({ idle: 5, total: 10 }, { idle: 5, total: 10 }, 2), 0, 'no time passed');
});

test('a busy core shows as less idle', async () => {
  using load = new MachineLoad(100, 10);
  const end = Date.now() + 1500;
  while (Date.now() < end); // one core busy, in this thread
  const idle = load.idleCores();
  assert.ok(idle <= cpus().length - 0.7, `${idle.toFixed(2)} of ${cpus().length} cores idle while this one spun`);
});
