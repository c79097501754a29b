import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArrivalLog } from '../../src/live/arrival-log.js';

test('arrivals are matched by timestamp, even when the decoder hands frames out late', () => {
  const log = new ArrivalLog();
  log.note(3000, 100);
  log.note(6000, 133);
  log.note(9000, 166);
  // Frame threads: the first frame comes out after the third packet went in.
  assert.equal(log.take(3000), 100);
  assert.equal(log.take(6000), 133);
  // Unknown timestamps (restamped frames): the newest arrival.
  assert.equal(log.take(12345), 166);
  assert.equal(log.take(undefined), 166);
  // Matching forgets what is older.
  log.note(12000, 200);
  assert.equal(log.take(12000), 200);
  assert.equal(new ArrivalLog().take(3000), undefined);
});

test('the log is bounded', () => {
  const log = new ArrivalLog(4);
  for (let i = 0; i < 10; i++) log.note(i, i * 10);
  assert.equal(log.take(0), 90, 'the oldest were forgotten: the newest stands in');
  assert.equal(log.take(7), 70);
});
