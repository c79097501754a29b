import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeAmf0 } from '../../src/protocols/rtmp/amf0.js';

/**
 * A bare RTMP publisher for the reliability tests: it speaks just enough
 * RTMP (handshake, connect, createStream, publish) to send FLV tags with
 * whatever timestamps and codecs a test wants, which FFmpeg will not do
 * (it refuses timestamps that go backwards). It also sends raw bytes, for
 * the garbage cases.
 */

export interface FlvTag {
  kind: 8 | 9 | 18; // audio, video, data (the RTMP message type ids too)
  timestamp: number;
  body: Buffer;
}

/** The tags of an FLV file (header and PreviousTagSize fields skipped). */
export function readFlvTags(flv: Buffer): FlvTag[] {
  const tags: FlvTag[] = [];
  for (let at = flv.readUInt32BE(5) + 4; at + 11 <= flv.length; ) {
    const size = flv.readUIntBE(at + 1, 3);
    const timestamp = flv.readUIntBE(at + 4, 3) | (flv[at + 7]! << 24);
    tags.push({ kind: flv[at] as FlvTag['kind'], timestamp, body: flv.subarray(at + 11, at + 11 + size) });
    at += 11 + size + 4;
  }
  return tags;
}

/** `seconds` of 30 fps testsrc2 as FLV tags (video only), made by FFmpeg into `dir`. */
export function testFlv(dir: string, name: string, options: { size?: string; seconds?: number; codec?: string[] } = {}): FlvTag[] {
  const file = join(dir, `${name}.flv`);
  const codec = options.codec ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30'];
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${options.size ?? '320x240'}:rate=30:duration=${options.seconds ?? 2}`, ...codec, '-f', 'flv', file]);
  return readFlvTags(readFileSync(file));
}

const CHUNK_SIZE = 4096;

/** One RTMP message as chunks (format 0, then format 3 continuations). */
export function rtmpMessage(csid: number, typeId: number, streamId: number, timestamp: number, payload: Buffer, chunkSize = CHUNK_SIZE): Buffer {
  const extended = timestamp >= 0xffffff;
  const header = Buffer.alloc(12 + (extended ? 4 : 0));
  header[0] = csid;
  header.writeUIntBE(extended ? 0xffffff : timestamp, 1, 3);
  header.writeUIntBE(payload.length, 4, 3);
  header[7] = typeId;
  header.writeUInt32LE(streamId, 8);
  if (extended) header.writeUInt32BE(timestamp >>> 0, 12);
  const parts: Buffer[] = [header];
  for (let at = 0; at < payload.length; at += chunkSize) {
    if (at > 0) {
      parts.push(Buffer.of(0xc0 | csid));
      if (extended) parts.push(header.subarray(12));
    }
    parts.push(payload.subarray(at, at + chunkSize));
  }
  return Buffer.concat(parts);
}

export class RawRtmp {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (data: Buffer) => (this.received = Buffer.concat([this.received, data])));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  /** Connects to 127.0.0.1 from `localAddress` (any of 127.0.0.0/8 works on Linux), to play several clients. */
  static async open(port: number, localAddress = '127.0.0.1'): Promise<RawRtmp> {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawRtmp(socket);
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Waits until the server has sent `bytes` in all, or something matching `text`; false if it closed first or time ran out. */
  async waitFor(what: number | string, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (typeof what === 'number' ? this.received.length >= what : this.received.includes(what)) return true;
      if (this.socket.destroyed || Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** C0+C1, then C2 once S0+S1+S2 are in. */
  async handshake(): Promise<void> {
    this.write(Buffer.concat([Buffer.of(3), Buffer.alloc(1536)]));
    if (!(await this.waitFor(1 + 2 * 1536))) throw new Error('no S0+S1+S2');
    this.write(Buffer.alloc(1536));
  }

  /** Handshake, connect to `live`, createStream and publish `key`; resolves once publishing started. */
  async publish(key: string): Promise<void> {
    await this.handshake();
    const size = Buffer.alloc(4);
    size.writeUInt32BE(CHUNK_SIZE);
    this.write(rtmpMessage(2, 1, 0, 0, size, 128));
    this.write(rtmpMessage(3, 20, 0, 0, encodeAmf0('connect', 1, { app: 'live', type: 'nonprivate', tcUrl: 'rtmp://127.0.0.1/live' })));
    this.write(rtmpMessage(3, 20, 0, 0, encodeAmf0('createStream', 2, null)));
    this.write(rtmpMessage(3, 20, 1, 0, encodeAmf0('publish', 3, null, key, 'live')));
    if (!(await this.waitFor('NetStream.Publish.Start'))) throw new Error(`publish ${key} was not started`);
  }

  /** Sends tags in real time by their (rewritten) timestamps: `at` is when, in ms from the start, each is sent. */
  async sendTags(tags: { tag: FlvTag; timestamp: number; at: number }[]): Promise<void> {
    const started = Date.now();
    for (const { tag, timestamp, at } of tags) {
      const wait = started + at - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.socket.destroyed) return;
      this.write(rtmpMessage(tag.kind === 9 ? 6 : tag.kind === 8 ? 4 : 5, tag.kind, 1, timestamp, tag.body));
    }
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
