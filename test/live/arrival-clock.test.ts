import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArrivalClock } from '../../src/live/arrival-clock.js';

const RTP = { num: 1, den: 90000 };
const NO_PTS = -0x8000000000000000n;

test('arrivals are matched by timestamp, even when the decoder hands frames out late', () => {
  const clock = new ArrivalClock(RTP);
  clock.note({ timestamp: 3000 }, 100);
  clock.note({ timestamp: 6000 }, 133);
  clock.note({ timestamp: 9000 }, 166);
  // Frame threads: the first frame comes out after the third packet went in.
  assert.equal(clock.take(3000n), 100);
  assert.equal(clock.take(6000n), 133);
  // Unknown timestamps (restamped frames) and frames without a pts: the newest arrival.
  assert.equal(clock.take(12345n), 166);
  assert.equal(clock.take(NO_PTS), 166);
  // Matching forgets what is older.
  clock.note({ timestamp: 12000 }, 200);
  assert.equal(clock.take(12000n), 200);
  assert.equal(new ArrivalClock(RTP).take(3000n), undefined);
});

test('the clock is bounded', () => {
  const clock = new ArrivalClock(RTP, 4);
  for (let i = 0; i < 10; i++) clock.note({ timestamp: i }, i * 10);
  assert.equal(clock.take(0n), 90, 'the oldest were forgotten: the newest stands in');
  assert.equal(clock.take(7n), 70);
});

test('a pts in another time base is looked up on the 90 kHz clock', () => {
  // FLV: milliseconds; its encoded items carry the RTP timestamp of the same instant.
  const clock = new ArrivalClock({ num: 1, den: 1000 });
  clock.note({ timestamp: 2970 }, 100);
  clock.note({ timestamp: 6030 }, 133);
  assert.equal(clock.take(67n), 133, '67 ms is 6030 ticks');
  // 32-bit wrap: some 14 hours in, the RTP timestamp has wrapped and still matches.
  const late = 50_000_000n; // ms: 4.5e9 ticks, past 2^32
  const wrapped = Number((late * 90n) & 0xffffffffn);
  clock.note({ timestamp: wrapped }, 500);
  clock.note({ timestamp: wrapped + 3000 }, 533);
  assert.equal(clock.take(late), 500);
});

test('an encoded item that names its frame pts is keyed by that pts, not by its RTP timestamp', () => {
  // WebRTC: frames are restamped on the source's own timeline (here 1/90000 from zero); RTP timestamps start anywhere.
  const clock = new ArrivalClock(RTP);
  clock.note({ timestamp: 123_456_789, pts: 0n }, 100);
  clock.note({ timestamp: 123_459_789, pts: 3000n }, 133);
  clock.note({ timestamp: 3000 }, 150); // an item without pts: its RTP timestamp is its key
  assert.equal(clock.take(0n), 100);
  assert.equal(clock.take(3000n), 133, 'matched by its pts, not by the later item whose RTP timestamp is 3000');
});
