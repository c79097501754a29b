import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { before, test } from 'node:test';
import { decodeAmf0, encodeAmf0 } from '../../../src/protocols/rtmp/amf0.js';
import { encodeMessage, MessageType } from '../../../src/protocols/rtmp/chunk-stream.js';
import { type RtmpOutput, RtmpSession } from '../../../src/protocols/rtmp/session.js';
import { ffmpegPublish } from './rtmp-helpers.js';

// ---- A real publish, recorded once: every byte FFmpeg sent to a server built on RtmpSession.

let capture: Buffer;

before(async () => {
  const received: Buffer[] = [];
  const server = createServer((socket) => {
    const session = new RtmpSession();
    const carryOut = (outputs: RtmpOutput[]): void => {
      for (const output of outputs) {
        if (output.type === 'send') socket.write(output.data);
        if (output.type === 'publish') carryOut(session.accept());
      }
    };
    socket.on('data', (data: Buffer) => {
      received.push(data);
      carryOut(session.processInput(data));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const result = await ffmpegPublish(`rtmp://127.0.0.1:${port}/live/test`);
  server.close();
  assert.equal(result.code, 0, `ffmpeg failed: ${result.stderr}`);
  capture = Buffer.concat(received);
});

/** Feeds `pieces` to a fresh session that accepts any publish; returns everything but the bytes it sends. */
function replay(pieces: Iterable<Buffer>, session = new RtmpSession()): RtmpOutput[] {
  const events: RtmpOutput[] = [];
  const take = (outputs: RtmpOutput[]): void => {
    for (const output of outputs) {
      if (output.type === 'send') continue;
      events.push(output);
      if (output.type === 'publish') take(session.accept());
    }
  };
  for (const piece of pieces) take(session.processInput(piece));
  return events;
}

/** `bytes` cut into pieces of 1..7 bytes, sizes from a fixed-seed generator so failures reproduce. */
function* smallPieces(bytes: Buffer): Generator<Buffer> {
  let seed = 12345;
  for (let at = 0; at < bytes.length; ) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const size = 1 + ((seed >>> 16) % 7);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

test('a real FFmpeg publish parses into publish, metadata, 60 frames of video, audio and end', () => {
  const events = replay([capture]);
  assert.deepEqual(events[0], { type: 'publish', app: 'live', key: 'test' });
  assert.deepEqual(events.at(-1), { type: 'end' });
  assert.equal(events.filter((e) => e.type === 'error').length, 0);

  const media = events.filter((e) => e.type === 'media');
  const [metadata] = media;
  assert.equal(metadata?.kind, 'data');
  assert.equal(decodeAmf0(metadata.payload)[0], 'onMetaData', '@setDataFrame is stripped');

  const video = media.filter((m) => m.kind === 'video');
  const audio = media.filter((m) => m.kind === 'audio');
  // FLV video tag: byte 1 is the AVC packet type, 0 = sequence header (SPS/PPS), 1 = a frame.
  assert.equal(video[0]?.payload[1], 0, 'the first video message is the AVC sequence header');
  assert.equal(video.filter((v) => v.payload[1] === 1).length, 60);
  assert.equal(video[0]?.payload[0], 0x17, 'keyframe + AVC');
  assert.ok(audio.length >= 87, `${audio.length} audio messages for 2 s of 44.1 kHz AAC`);
  assert.equal(audio[0]?.payload[0]! >> 4, 10, 'AAC');

  // Absolute timestamps rebuilt from chunk deltas: at 30 fps frame n comes n * 33.3 ms after the first.
  const frameTimes = video.filter((v) => v.payload[1] === 1).map((v) => v.timestamp);
  frameTimes.forEach((time, n) => assert.ok(Math.abs(time - frameTimes[0]! - (n * 1000) / 30) <= 1, `frame ${n} at ${time} ms`));
  for (let i = 1; i < audio.length; i++) assert.ok(audio[i]!.timestamp >= audio[i - 1]!.timestamp);
  assert.ok(audio.at(-1)!.timestamp > 1900);
});

test('feeding the capture 1-7 bytes at a time gives exactly the outputs of feeding it whole', () => {
  const whole = replay([capture]);
  const trickled = replay(smallPieces(capture));
  assert.equal(trickled.length, whole.length);
  assert.deepEqual(trickled, whole);
});

test('damaged captures give an error output or nothing, never an exception', () => {
  let seed = 7;
  let errors = 0;
  for (let variant = 0; variant < 20; variant++) {
    const damaged = Buffer.from(capture);
    for (let flips = 0; flips < 200; flips++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      // Past the handshake, where damage reaches the chunk and AMF0 parsers.
      damaged[3073 + (seed % (damaged.length - 3073))] ^= 0xff;
    }
    const events = replay(smallPieces(damaged));
    if (events.some((e) => e.type === 'error')) errors++;
  }
  assert.ok(errors > 0, 'some damage must be noticed');
});

// ---- Hand-built chunks, for the header formats a capture may not exercise.

function basicHeader(format: number, csid: number): Buffer {
  if (csid < 64) return Buffer.of((format << 6) | csid);
  if (csid < 320) return Buffer.of(format << 6, csid - 64);
  return Buffer.of((format << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8);
}

interface ChunkFields {
  timestamp?: number; // absolute for format 0, delta for 1 and 2; format 3 uses it only for the extended field
  length?: number;
  typeId?: number;
  streamId?: number;
}

function chunk(format: 0 | 1 | 2 | 3, csid: number, fields: ChunkFields, payload: Buffer): Buffer {
  const parts = [basicHeader(format, csid)];
  const timestamp = fields.timestamp ?? 0;
  const extended = timestamp >= 0xffffff;
  if (format <= 2) parts.push(uint(extended ? 0xffffff : timestamp, 3));
  if (format <= 1) parts.push(uint(fields.length ?? payload.length, 3), Buffer.of(fields.typeId!));
  if (format === 0) {
    const streamId = Buffer.alloc(4);
    streamId.writeUInt32LE(fields.streamId ?? 0); // the one little-endian field in RTMP
    parts.push(streamId);
  }
  if (extended) parts.push(uint(timestamp, 4));
  parts.push(payload);
  return Buffer.concat(parts);
}

function uint(value: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  out.writeUIntBE(value, 0, bytes);
  return out;
}

const handshake = Buffer.concat([Buffer.of(3), Buffer.alloc(1536), Buffer.alloc(1536)]);

function command(...values: Parameters<typeof encodeAmf0>): Buffer {
  const payload = encodeAmf0(...values);
  return chunk(0, 3, { typeId: 20 }, payload);
}

/** A session that has shaken hands, connected to `live` and had `key` accepted on stream 1. */
function publishingSession(): RtmpSession {
  const session = new RtmpSession();
  const events = replay(
    [handshake, command('connect', 1, { app: 'live' }), command('createStream', 2, null), chunk(0, 3, { typeId: 20, streamId: 1 }, encodeAmf0('publish', 3, null, 'key', 'live'))],
    session,
  );
  assert.deepEqual(events, [{ type: 'publish', app: 'live', key: 'key' }]);
  return session;
}

test('chunk formats 0-3, extended timestamps and 2- and 3-byte chunk stream ids give absolute timestamps', () => {
  const big = Buffer.alloc(200, 0xab); // more than the default 128-byte chunk: a format 3 continuation
  const input = Buffer.concat([
    chunk(0, 6, { timestamp: 1000, typeId: 9, streamId: 1 }, Buffer.from('aaa')),
    chunk(1, 6, { timestamp: 33, typeId: 9 }, Buffer.from('bbbb')),
    chunk(2, 6, { timestamp: 34 }, Buffer.from('cccc')),
    chunk(3, 6, {}, Buffer.from('dddd')), // a new message: repeats the 34 ms delta
    chunk(1, 6, { timestamp: 1, length: 0, typeId: 9 }, Buffer.alloc(0)),
    chunk(0, 100, { timestamp: 0x1000000, typeId: 8, streamId: 1, length: 200 }, big.subarray(0, 128)),
    chunk(3, 100, { timestamp: 0x1000000 }, big.subarray(128)), // continuation repeats the extended field
    chunk(3, 100, { timestamp: 0x1000000 }, big.subarray(0, 128)), // new message, delta = the format 0 timestamp
    chunk(3, 100, { timestamp: 0x1000000 }, big.subarray(128)),
    chunk(0, 400, { timestamp: 5, typeId: 18, streamId: 1 }, encodeAmf0('@setDataFrame', 'onMetaData', { a: 1 })),
  ]);
  const expected = [
    ['video', 1000, 3],
    ['video', 1033, 4],
    ['video', 1067, 4],
    ['video', 1101, 4],
    ['video', 1102, 0],
    ['audio', 0x1000000, 200],
    ['audio', 0x2000000, 200],
    ['data', 5, encodeAmf0('onMetaData', { a: 1 }).length],
  ];
  for (const pieces of [[input], [...smallPieces(input)]]) {
    const media = replay(pieces, publishingSession()).map((e) => (e.type === 'media' ? [e.kind, e.timestamp, e.payload.length] : e));
    assert.deepEqual(media, expected);
  }
});

test('publish waits for the decision; reject answers BadName and closes the session', () => {
  const session = new RtmpSession();
  const prelude = [handshake, command('connect', 1, { app: 'live' }), chunk(0, 3, { typeId: 20, streamId: 1 }, encodeAmf0('publish', 2, null, 'taken', 'live'))];
  const media = chunk(0, 6, { timestamp: 0, typeId: 9, streamId: 1 }, Buffer.from('x'));
  let outputs: RtmpOutput[] = [];
  for (const piece of [...prelude, media]) outputs = outputs.concat(session.processInput(piece));
  assert.deepEqual(outputs.at(-1), { type: 'publish', app: 'live', key: 'taken' });
  const [reply] = session.reject('already live');
  assert.equal(reply?.type, 'send');
  const text = reply.type === 'send' ? reply.data.toString('latin1') : '';
  assert.match(text, /onStatus[\s\S]*NetStream\.Publish\.BadName[\s\S]*already live/);
  assert.equal(session.closed, true);
  assert.deepEqual(session.processInput(media), []);
});

test('connect is answered with window ack size, peer bandwidth, chunk size 4096 and _result', () => {
  const session = new RtmpSession();
  const [handshakeReply] = session.processInput(handshake);
  assert.equal(handshakeReply?.type === 'send' && handshakeReply.data.length, 1 + 1536 * 2);
  const sends = session.processInput(command('connect', 1, { app: 'live/', objectEncoding: 0 }));
  const bytes = Buffer.concat(sends.map((s) => (s.type === 'send' ? s.data : Buffer.alloc(0))));
  // Three control messages on chunk stream 2 (12-byte headers): types 5, 6, 1.
  assert.deepEqual([bytes[7], bytes[16 + 7], bytes[16 + 17 + 7]], [5, 6, 1]);
  assert.equal(bytes.readUInt32BE(16 + 17 + 12), 4096);
  assert.match(bytes.toString('latin1'), /_result[\s\S]*NetConnection\.Connect\.Success/);
});

test('acknowledges each window of received bytes and answers pings', () => {
  const session = new RtmpSession();
  session.processInput(handshake);
  const windowAck = chunk(0, 2, { typeId: 5 }, uint(1000, 4));
  const ping = chunk(0, 2, { typeId: 4 }, Buffer.concat([uint(6, 2), uint(0xdeadbeef, 4)]));
  const sends = session.processInput(Buffer.concat([windowAck, ping])).filter((o) => o.type === 'send');
  const bytes = Buffer.concat(sends.map((s) => (s.type === 'send' ? s.data : Buffer.alloc(0))));
  // Ping response (user control event 7, same payload), then an acknowledgement of all 3073 + 32 bytes.
  assert.equal(bytes[7], 4);
  assert.equal(bytes.readUInt16BE(12), 7);
  assert.equal(bytes.readUInt32BE(14), 0xdeadbeef);
  assert.equal(bytes[18 + 7], 3);
  assert.equal(bytes.readUInt32BE(18 + 12), handshake.length + windowAck.length + ping.length);
});

test('protocol errors are one error output, never an exception, and the session then ignores input', () => {
  const cases: [string, RtmpSession, Buffer, RegExp][] = [
    ['HTTP on the RTMP port', new RtmpSession(), Buffer.from('GET / HTTP/1.1\r\n\r\n'), /handshake version 71/],
    ['chunk size over 16 MiB', new RtmpSession(), Buffer.concat([handshake, chunk(0, 2, { typeId: 1 }, uint(0x7fffffff, 4))]), /chunk size/],
    ['chunk size 0', new RtmpSession(), Buffer.concat([handshake, chunk(0, 2, { typeId: 1 }, uint(0, 4))]), /chunk size 0/],
    ['message over the limit', new RtmpSession({ maxMessageSize: 1000 }), Buffer.concat([handshake, chunk(0, 6, { typeId: 9, length: 2000 }, Buffer.alloc(10))]), /2000 bytes exceeds/],
    ['garbage after the handshake', new RtmpSession(), Buffer.concat([handshake, Buffer.alloc(64, 0xff)]), /format 3/],
    ['a command that is not AMF0', new RtmpSession(), Buffer.concat([handshake, chunk(0, 3, { typeId: 20 }, Buffer.from('\x11\x22\x33'))]), /AMF0/],
    ['publish before connect', new RtmpSession(), Buffer.concat([handshake, command('publish', 0, null, 'k')]), /before 'connect'/],
    ['unknown message type', new RtmpSession(), Buffer.concat([handshake, chunk(0, 3, { typeId: 99 }, Buffer.alloc(1))]), /unknown message type 99/],
  ];
  for (const [name, session, input, reason] of cases) {
    const outputs = session.processInput(input);
    const errors = outputs.filter((o) => o.type === 'error');
    assert.equal(errors.length, 1, name);
    assert.match(errors[0]!.type === 'error' ? errors[0]!.reason : '', reason, name);
    assert.equal(session.closed, true, name);
    assert.deepEqual(session.processInput(input), [], name);
  }
});

test('before a publish is accepted a message may take 64 KiB at most; after it, media of megabytes passes', () => {
  const handshake = Buffer.concat([Buffer.of(3), Buffer.alloc(1536), Buffer.alloc(1536)]);
  const chunkSize = Buffer.alloc(4);
  chunkSize.writeUInt32BE(4096);
  const setChunkSize = encodeMessage(2, MessageType.SetChunkSize, 0, chunkSize, 128);
  const big = encodeMessage(3, MessageType.CommandAmf0, 0, Buffer.alloc(100 * 1024), 4096);
  const early = replay([handshake, setChunkSize, big]);
  assert.deepEqual(early.at(-1), { type: 'error', reason: `message of ${100 * 1024} bytes exceeds the 65536-byte limit` });

  const publish = [
    encodeMessage(3, MessageType.CommandAmf0, 0, encodeAmf0('connect', 1, { app: 'live' }), 4096),
    encodeMessage(3, MessageType.CommandAmf0, 0, encodeAmf0('createStream', 2, null), 4096),
    encodeMessage(3, MessageType.CommandAmf0, 1, encodeAmf0('publish', 3, null, 'cam', 'live'), 4096),
  ];
  const keyframe = encodeMessage(6, MessageType.Video, 1, Buffer.alloc(2 * 1024 * 1024), 4096);
  const late = replay([handshake, setChunkSize, ...publish, keyframe]);
  assert.deepEqual(late.map((o) => o.type), ['publish', 'media']);
  assert.equal(late[1]!.type === 'media' && late[1]!.payload.length, 2 * 1024 * 1024);
});
