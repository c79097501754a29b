import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkReader, encodeMessage, MessageType, type RtmpMessage } from '../../../src/protocols/rtmp/chunk-stream.js';

const C0C1 = Buffer.concat([Buffer.of(3), Buffer.alloc(1536, 7)]);
const C2 = Buffer.alloc(1536, 9);

/** Everything a reader makes of `input` fed in pieces of `step` bytes. */
function readAll(reader: ChunkReader, input: Buffer, step: number): { replies: Buffer[]; messages: RtmpMessage[] } {
  const replies: Buffer[] = [];
  const messages: RtmpMessage[] = [];
  for (let at = 0; at < input.length; at += step) {
    reader.push(input.subarray(at, at + step));
    for (let next = reader.next(); next; next = reader.next()) {
      if (next.type === 'handshake') replies.push(next.reply);
      else messages.push(next.message);
    }
  }
  return { replies, messages };
}

test('the reader answers the handshake, then gives back what the writer chunked, in any split', () => {
  const big = Buffer.alloc(1000, 0xab);
  const setChunkSize = Buffer.alloc(4);
  setChunkSize.writeUInt32BE(300);
  const input = Buffer.concat([
    C0C1,
    C2,
    encodeMessage(3, MessageType.CommandAmf0, 0, Buffer.from('hello'), 128),
    // Applied by the reader, never returned: the next message is cut at 300.
    encodeMessage(2, MessageType.SetChunkSize, 0, setChunkSize, 128),
    encodeMessage(6, MessageType.Video, 1, big, 300),
    encodeMessage(4, MessageType.Audio, 1, Buffer.alloc(0), 300),
  ]);
  for (const step of [1, 7, 1536, input.length]) {
    const { replies, messages } = readAll(new ChunkReader(), input, step);
    assert.equal(replies.length, 1, `step ${step}`);
    assert.equal(replies[0]!.length, 1 + 2 * 1536);
    assert.deepEqual(replies[0]!.subarray(1 + 1536), C0C1.subarray(1), 'S2 echoes C1');
    assert.deepEqual(
      messages.map((m) => [m.typeId, m.streamId, m.payload.length]),
      [
        [MessageType.CommandAmf0, 0, 5],
        [MessageType.Video, 1, 1000],
        [MessageType.Audio, 1, 0],
      ],
      `step ${step}`,
    );
    assert.deepEqual(messages[1]!.payload, big);
  }
});

test('the reader refuses what is not RTMP, and messages over its limit', () => {
  const http = new ChunkReader();
  http.push(Buffer.from('GET / HTTP/1.1\r\n'));
  assert.throws(() => http.next(), /not RTMP: handshake version 71/);

  const small = new ChunkReader(100);
  small.push(Buffer.concat([C0C1, C2, encodeMessage(3, MessageType.Video, 1, Buffer.alloc(101), 128)]));
  assert.equal(small.next()?.type, 'handshake');
  assert.throws(() => small.next(), /message of 101 bytes exceeds the 100-byte limit/);
});

test('the writer cuts a message at the chunk size with one-byte continuation headers', () => {
  const encoded = encodeMessage(3, MessageType.CommandAmf0, 0, Buffer.alloc(10, 1), 4);
  // 12-byte header, then 4 + (1 + 4) + (1 + 2) payload and continuation bytes.
  assert.equal(encoded.length, 12 + 4 + 5 + 3);
  assert.equal(encoded[12 + 4], 0xc3);
  assert.equal(encoded[12 + 4 + 5], 0xc3);
});
