import { randomBytes } from 'node:crypto';

/**
 * RTMP's transport layer, both directions, as pure code: the handshake, and
 * messages cut into chunks on interleaved chunk streams (spec, 5.3). The
 * reader turns a peer's bytes, in any split, into whole messages; the
 * writer cuts one message into chunks. What the messages mean (commands,
 * media) is `RtmpSession`'s business; the two protocol control messages
 * that only steer the chunking (Set Chunk Size, Abort) are applied here.
 */

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/** Largest message (and chunk size) a peer may announce by default: the protocol's own ceiling, a 24-bit length field. */
export const DEFAULT_MAX_MESSAGE_SIZE = 0xffffff;

/** A peer broke the protocol: the connection is beyond repair. */
export class ProtocolError extends Error {}

/** One whole message off the chunk streams; `timestamp` in milliseconds, modulo 2^32 as on the wire. */
export interface RtmpMessage {
  typeId: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

export type ChunkReaderOutput =
  /** S0+S1+S2, the answer to the peer's C0+C1: send it. */
  | { type: 'handshake'; reply: Buffer }
  | { type: 'message'; message: RtmpMessage };

const HANDSHAKE_SIZE = 1536;
const RTMP_VERSION = 3;
/** What peers start with until a Set Chunk Size says otherwise (spec, 5.4.1). */
export const DEFAULT_CHUNK_SIZE = 128;

/** Bytes of the message header for chunk formats 0..3 (spec, 5.3.1.2). */
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;

/** What later chunks on one chunk stream inherit from earlier ones, plus the message being assembled. */
interface ChunkStream {
  timestamp: number;
  timestampDelta: number;
  length: number;
  typeId: number;
  streamId: number;
  /** Whether the last format 0-2 header used an extended timestamp; format 3 chunks then carry one too. */
  extendedTimestamp: boolean;
  parts: Buffer[];
  received: number;
}

/**
 * The reading half: `push()` the peer's bytes, then take `next()` until it
 * returns undefined (more bytes needed). Its owner may stop taking at any
 * message (a publish waiting for its answer): what is left stays buffered,
 * unparsed, until it asks again.
 */
export class ChunkReader {
  private phase: 'c0c1' | 'c2' | 'chunks' = 'c0c1';
  private input: Buffer = Buffer.alloc(0);
  private at = 0;
  private readonly chunkStreams = new Map<number, ChunkStream>();
  private chunkSize = DEFAULT_CHUNK_SIZE;
  /** The chunk whose payload is still arriving, and how many of its bytes are missing. */
  private current?: ChunkStream;
  private chunkRemaining = 0;
  /** Bytes held in partly received messages, over all chunk streams. */
  private incompleteBytes = 0;
  /** The largest message taken now (see `limitMessages`). */
  private messageLimit: number;

  constructor(private readonly maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.messageLimit = maxMessageSize;
  }

  /** Takes messages of at most `bytes` (never more than `maxMessageSize`) from the next header on. */
  limitMessages(bytes: number): void {
    this.messageLimit = Math.min(bytes, this.maxMessageSize);
  }

  /** Appends bytes from the peer, in any split. */
  push(data: Buffer): void {
    const rest = this.input.subarray(this.at);
    // Only a partial header or handshake (or input held behind a pending publish) is ever left over, so this concat stays small.
    this.input = rest.length > 0 ? Buffer.concat([rest, data]) : data;
    this.at = 0;
  }

  /** Drops what is buffered: the connection is dead. */
  clear(): void {
    this.input = Buffer.alloc(0);
    this.at = 0;
  }

  /** The next handshake reply or whole message, or undefined until more bytes come. Throws `ProtocolError`. */
  next(): ChunkReaderOutput | undefined {
    for (;;) {
      const input = this.input;
      const available = input.length - this.at;
      if (this.phase === 'c0c1') {
        // C0 is judged alone, so a stray HTTP request or port scan fails at once instead of idling.
        if (available >= 1 && input[this.at] !== RTMP_VERSION) throw new ProtocolError(`not RTMP: handshake version ${input[this.at]}, expected ${RTMP_VERSION}`);
        if (available < 1 + HANDSHAKE_SIZE) return undefined;
        const c1 = input.subarray(this.at + 1, this.at + 1 + HANDSHAKE_SIZE);
        this.at += 1 + HANDSHAKE_SIZE;
        this.phase = 'c2';
        return { type: 'handshake', reply: serverHandshake(c1) };
      }
      if (this.phase === 'c2') {
        // C2 echoes our S1; with the simple handshake there is nothing to verify.
        if (available < HANDSHAKE_SIZE) return undefined;
        this.at += HANDSHAKE_SIZE;
        this.phase = 'chunks';
        continue;
      }
      let message: RtmpMessage | undefined;
      if (this.current) {
        if (available === 0) return undefined;
        const take = Math.min(available, this.chunkRemaining);
        message = this.appendPayload(this.current, input.subarray(this.at, this.at + take));
        this.at += take;
      } else {
        const headerLength = this.readChunkHeader(input, this.at);
        if (headerLength === undefined) return undefined;
        this.at += headerLength;
        // A zero-length message is complete with its header.
        if (this.current && this.chunkRemaining === 0) message = this.appendPayload(this.current, Buffer.alloc(0));
      }
      if (message && !this.steer(message)) return { type: 'message', message };
    }
  }

  /** Applies Set Chunk Size and Abort, which only steer the chunking; false for every other message. */
  private steer(message: RtmpMessage): boolean {
    if (message.typeId === MessageType.SetChunkSize) {
      const size = readUInt32(message.payload, 'Set Chunk Size') & 0x7fffffff;
      if (size < 1 || size > this.maxMessageSize) throw new ProtocolError(`chunk size ${size} out of range 1..${this.maxMessageSize}`);
      this.chunkSize = size;
      return true;
    }
    if (message.typeId === MessageType.Abort) {
      const aborted = this.chunkStreams.get(readUInt32(message.payload, 'Abort'));
      if (aborted) {
        this.incompleteBytes -= aborted.received;
        aborted.parts = [];
        aborted.received = 0;
      }
      return true;
    }
    return false;
  }

  /** Parses one chunk header at `at`; returns its size, or undefined when it has not fully arrived. */
  private readChunkHeader(input: Buffer, at: number): number | undefined {
    let pos = at;
    if (pos >= input.length) return undefined;
    const format = input[pos]! >> 6;
    let csid = input[pos]! & 0x3f;
    pos++;
    // Chunk stream ids 64..65599 take one or two extra bytes (spec, 5.3.1.1).
    if (csid === 0) {
      if (pos + 1 > input.length) return undefined;
      csid = 64 + input[pos]!;
      pos += 1;
    } else if (csid === 1) {
      if (pos + 2 > input.length) return undefined;
      csid = 64 + input[pos]! + input[pos + 1]! * 256;
      pos += 2;
    }
    const headerSize = MESSAGE_HEADER_SIZE[format as 0 | 1 | 2 | 3];
    if (pos + headerSize > input.length) return undefined;

    let stream = this.chunkStreams.get(csid);
    if (!stream && format !== 0) throw new ProtocolError(`chunk stream ${csid} starts with a format ${format} header instead of format 0`);
    const startsMessage = !stream || stream.received === 0;
    if (!startsMessage && format !== 3) throw new ProtocolError(`chunk stream ${csid}: new message header before the previous message was complete`);

    let timestampField = 0;
    let length = stream?.length ?? 0;
    let typeId = stream?.typeId ?? 0;
    let streamId = stream?.streamId ?? 0;
    if (format <= 2) timestampField = input.readUIntBE(pos, 3);
    if (format <= 1) {
      length = input.readUIntBE(pos + 3, 3);
      typeId = input[pos + 6]!;
    }
    if (format === 0) streamId = input.readUInt32LE(pos + 7);
    pos += headerSize;

    // 0xFFFFFF in the 24-bit field means "the real value follows in 4 bytes".
    const extended = format === 3 ? stream!.extendedTimestamp : timestampField === 0xffffff;
    if (extended) {
      if (pos + 4 > input.length) return undefined;
      if (format !== 3) timestampField = input.readUInt32BE(pos);
      pos += 4;
    }

    // The whole header is here: only now change state, so a header split across inputs is simply re-read.
    if (length > this.messageLimit) throw new ProtocolError(`message of ${length} bytes exceeds the ${this.messageLimit}-byte limit`);
    if (!stream) {
      stream = { timestamp: 0, timestampDelta: 0, length, typeId, streamId, extendedTimestamp: false, parts: [], received: 0 };
      this.chunkStreams.set(csid, stream);
    }
    if (format !== 3) stream.extendedTimestamp = extended;
    stream.length = length;
    stream.typeId = typeId;
    stream.streamId = streamId;
    if (format === 0) {
      stream.timestamp = timestampField;
      // A format 3 message right after a format 0 one repeats its timestamp as the delta (spec, 5.3.1.2.4).
      stream.timestampDelta = timestampField;
    } else if (format === 1 || format === 2) {
      stream.timestampDelta = timestampField;
      stream.timestamp = (stream.timestamp + timestampField) >>> 0;
    } else if (startsMessage) {
      stream.timestamp = (stream.timestamp + stream.timestampDelta) >>> 0;
    }

    this.current = stream;
    this.chunkRemaining = Math.min(this.chunkSize, stream.length - stream.received);
    return pos - at;
  }

  /** Adds a chunk's payload bytes to its message; returns the message once it is whole. */
  private appendPayload(stream: ChunkStream, bytes: Buffer): RtmpMessage | undefined {
    this.chunkRemaining -= bytes.length;
    if (this.chunkRemaining === 0) this.current = undefined;
    if (stream.received + bytes.length < stream.length) {
      // Copied: keeping a view would pin the peer's whole input buffer for a few bytes.
      stream.parts.push(Buffer.from(bytes));
      stream.received += bytes.length;
      this.incompleteBytes += bytes.length;
      // Two maximal messages in flight (video interleaved with audio) is generous; more is abuse.
      if (this.incompleteBytes > 2 * this.messageLimit) throw new ProtocolError(`more than ${2 * this.messageLimit} bytes of unfinished messages`);
      return undefined;
    }
    const payload = stream.parts.length === 0 ? bytes : Buffer.concat([...stream.parts, bytes]);
    this.incompleteBytes -= stream.received;
    stream.parts = [];
    stream.received = 0;
    return { typeId: stream.typeId, streamId: stream.streamId, timestamp: stream.timestamp, payload };
  }
}

/**
 * The writing half: one message as chunks of `chunkSize`, a format 0
 * header, then a 1-byte format 3 header before each further chunk. Nothing
 * the server sends is timed, so the timestamp is always 0.
 */
export function encodeMessage(csid: number, typeId: number, streamId: number, payload: Buffer, chunkSize: number): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid; // format 0; our chunk stream ids are all below 64
  header.writeUIntBE(0, 1, 3);
  header.writeUIntBE(payload.length, 4, 3);
  header[7] = typeId;
  header.writeUInt32LE(streamId, 8);
  const parts = [header, payload.subarray(0, chunkSize)];
  for (let at = chunkSize; at < payload.length; at += chunkSize) {
    parts.push(Buffer.of(0xc0 | csid), payload.subarray(at, at + chunkSize));
  }
  return Buffer.concat(parts);
}

/** A control message's 4-byte big-endian value. */
export function readUInt32(payload: Buffer, what: string): number {
  if (payload.length < 4) throw new ProtocolError(`${what} message of ${payload.length} bytes, expected 4`);
  return payload.readUInt32BE(0);
}

/**
 * S0+S1+S2 for the simple (non-digest) handshake. S1's zero version field
 * tells digest-capable clients (OBS's librtmp, FFmpeg) to fall back to the
 * simple handshake; S2 echoes C1, which is what they compare against.
 */
function serverHandshake(c1: Buffer): Buffer {
  const s1 = Buffer.alloc(HANDSHAKE_SIZE);
  s1.writeUInt32BE(Math.floor(performance.now()) >>> 0, 0);
  randomBytes(HANDSHAKE_SIZE - 8).copy(s1, 8);
  return Buffer.concat([Buffer.of(RTMP_VERSION), s1, c1]);
}
