import { randomBytes } from 'node:crypto';
import { type Amf0Object, type Amf0Value, Amf0EcmaArray, Amf0Reader, decodeAmf0, encodeAmf0 } from './amf0.js';

/**
 * The server side of one RTMP connection, as a pure state machine: bytes in,
 * outputs out, no sockets and no timers (the `node:net` adapter owns those).
 * It speaks just enough RTMP for a publisher such as OBS or FFmpeg:
 *
 *   handshake  C0+C1 → S0+S1+S2, then C2
 *   connect    → Window Ack Size, Set Peer Bandwidth, Set Chunk Size, _result
 *   releaseStream / FCPublish / createStream → _result
 *   publish    → a `publish` output; the owner answers with `accept()` or `reject()`
 *   audio / video / @setDataFrame → `media` outputs with absolute timestamps
 *   FCUnpublish / deleteStream → an `end` output
 *
 * Anything malformed yields one `error` output, after which the session
 * ignores further input: the owner should drop the connection.
 */

export type MediaKind = 'audio' | 'video' | 'data';

export type RtmpOutput =
  /** Bytes for the peer, in order. */
  | { type: 'send'; data: Buffer }
  /**
   * The peer asks to publish `key` in `app`. Input after it waits, unparsed,
   * for the answer: call `accept()` or `reject()`.
   */
  | { type: 'publish'; app: string; key: string }
  /**
   * An FLV tag body. `timestamp` is in milliseconds, modulo 2^32 as on the
   * wire. Data messages arrive without `@setDataFrame`, ready to be an FLV
   * script tag (`onMetaData`, ...).
   */
  | { type: 'media'; kind: MediaKind; timestamp: number; payload: Buffer }
  /** The publisher stopped publishing (the connection may publish again). */
  | { type: 'end' }
  /** A protocol violation; the session is dead. */
  | { type: 'error'; reason: string };

export interface RtmpSessionOptions {
  /**
   * Largest message, and largest chunk size, the peer may announce (bytes).
   * The default is the protocol's own ceiling (a 24-bit length field).
   */
  maxMessageSize?: number;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 0xffffff;

const HANDSHAKE_SIZE = 1536;
const RTMP_VERSION = 3;
/** What we announce and send with: large enough that commands go out as one chunk. */
const OUR_CHUNK_SIZE = 4096;
/** What peers start with until a Set Chunk Size says otherwise (spec, 5.4.1). */
const DEFAULT_CHUNK_SIZE = 128;
/** How many bytes the peer may send before it should expect our acknowledgement; a common server value. */
const OUR_WINDOW_ACK_SIZE = 5_000_000;

const MessageType = {
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

const UserControlEvent = { StreamBegin: 0, PingRequest: 6, PingResponse: 7 } as const;

// Chunk stream 2 is reserved for protocol control messages; commands conventionally use 3.
const CONTROL_CSID = 2;
const COMMAND_CSID = 3;

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

class ProtocolError extends Error {}

type Phase = 'c0c1' | 'c2' | 'chunks' | 'closed';

export class RtmpSession {
  private phase: Phase = 'c0c1';
  private pending: Buffer = Buffer.alloc(0);
  private readonly maxMessageSize: number;

  private readonly chunkStreams = new Map<number, ChunkStream>();
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private outChunkSize = DEFAULT_CHUNK_SIZE;
  /** The chunk whose payload is still arriving, and how many of its bytes are missing. */
  private current?: ChunkStream;
  private chunkRemaining = 0;
  /** Bytes held in partly received messages, over all chunk streams. */
  private incompleteBytes = 0;

  private bytesReceived = 0;
  private lastAcknowledged = 0;
  private peerWindowAckSize = 0;

  private app?: string;
  private lastStreamId = 0;
  private publishing: 'no' | 'pending' | 'yes' = 'no';
  private publishKey = '';
  private publishStreamId = 0;

  constructor(options: RtmpSessionOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  /** True once the session has failed or rejected its publisher; further input is ignored. */
  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** Feeds bytes from the peer, in any split. Never throws: failures are an `error` output. */
  processInput(data: Buffer): RtmpOutput[] {
    if (this.phase === 'closed') return [];
    const out: RtmpOutput[] = [];
    this.bytesReceived += data.length;
    // Only a partial header or handshake is ever left over, so this concat stays small.
    this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    try {
      this.consume(out);
      this.acknowledge(out);
    } catch (error) {
      this.phase = 'closed';
      this.pending = Buffer.alloc(0);
      out.push({ type: 'error', reason: error instanceof Error ? error.message : String(error) });
    }
    return out;
  }

  /**
   * Accepts the pending publish: returns the bytes that tell the peer to start
   * sending media, then the outputs of any input that arrived behind the publish.
   */
  accept(): RtmpOutput[] {
    if (this.publishing !== 'pending') throw new Error('accept() without a pending publish');
    this.publishing = 'yes';
    const streamBegin = Buffer.alloc(6);
    streamBegin.writeUInt16BE(UserControlEvent.StreamBegin, 0);
    streamBegin.writeUInt32BE(this.publishStreamId, 2);
    const data = Buffer.concat([
      this.encodeMessage(CONTROL_CSID, MessageType.UserControl, 0, streamBegin),
      this.onStatus('status', 'NetStream.Publish.Start', `${this.publishKey} is now published.`),
    ]);
    return [{ type: 'send', data }, ...this.processInput(Buffer.alloc(0))];
  }

  /**
   * Refuses the pending publish: returns the bytes saying why. The session is
   * closed afterwards: send them, then end the connection.
   */
  reject(reason: string, code = 'NetStream.Publish.BadName'): RtmpOutput[] {
    if (this.publishing !== 'pending') throw new Error('reject() without a pending publish');
    this.publishing = 'no';
    this.phase = 'closed';
    this.pending = Buffer.alloc(0);
    return [{ type: 'send', data: this.onStatus('error', code, reason) }];
  }

  private consume(out: RtmpOutput[]): void {
    const input = this.pending;
    let at = 0;
    while (this.phase !== 'closed' && this.publishing !== 'pending') {
      const available = input.length - at;
      if (this.phase === 'c0c1') {
        // C0 is judged alone, so a stray HTTP request or port scan fails at once instead of idling.
        if (available >= 1 && input[at] !== RTMP_VERSION) throw new ProtocolError(`not RTMP: handshake version ${input[at]}, expected ${RTMP_VERSION}`);
        if (available < 1 + HANDSHAKE_SIZE) break;
        const c1 = input.subarray(at + 1, at + 1 + HANDSHAKE_SIZE);
        out.push({ type: 'send', data: serverHandshake(c1) });
        at += 1 + HANDSHAKE_SIZE;
        this.phase = 'c2';
      } else if (this.phase === 'c2') {
        // C2 echoes our S1; with the simple handshake there is nothing to verify.
        if (available < HANDSHAKE_SIZE) break;
        at += HANDSHAKE_SIZE;
        this.phase = 'chunks';
      } else if (this.current) {
        if (available === 0) break;
        const take = Math.min(available, this.chunkRemaining);
        this.appendPayload(this.current, input.subarray(at, at + take), out);
        at += take;
      } else {
        const headerLength = this.readChunkHeader(input, at);
        if (headerLength === undefined) break;
        at += headerLength;
        // A zero-length message is complete with its header.
        if (this.current && this.chunkRemaining === 0) this.appendPayload(this.current, Buffer.alloc(0), out);
      }
    }
    this.pending = input.subarray(at);
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
    if (length > this.maxMessageSize) throw new ProtocolError(`message of ${length} bytes exceeds the ${this.maxMessageSize}-byte limit`);
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
    this.chunkRemaining = Math.min(this.inChunkSize, stream.length - stream.received);
    return pos - at;
  }

  private appendPayload(stream: ChunkStream, bytes: Buffer, out: RtmpOutput[]): void {
    this.chunkRemaining -= bytes.length;
    if (this.chunkRemaining === 0) this.current = undefined;
    if (stream.received + bytes.length < stream.length) {
      // Copied: keeping a view would pin the peer's whole input buffer for a few bytes.
      stream.parts.push(Buffer.from(bytes));
      stream.received += bytes.length;
      this.incompleteBytes += bytes.length;
      // Two maximal messages in flight (video interleaved with audio) is generous; more is abuse.
      if (this.incompleteBytes > 2 * this.maxMessageSize) throw new ProtocolError(`more than ${2 * this.maxMessageSize} bytes of unfinished messages`);
      return;
    }
    const payload = stream.parts.length === 0 ? bytes : Buffer.concat([...stream.parts, bytes]);
    this.incompleteBytes -= stream.received;
    stream.parts = [];
    stream.received = 0;
    this.handleMessage(stream, payload, out);
  }

  private handleMessage(stream: ChunkStream, payload: Buffer, out: RtmpOutput[]): void {
    switch (stream.typeId) {
      case MessageType.SetChunkSize: {
        const size = readUInt32(payload, 'Set Chunk Size') & 0x7fffffff;
        if (size < 1 || size > this.maxMessageSize) throw new ProtocolError(`chunk size ${size} out of range 1..${this.maxMessageSize}`);
        this.inChunkSize = size;
        return;
      }
      case MessageType.Abort: {
        const aborted = this.chunkStreams.get(readUInt32(payload, 'Abort'));
        if (aborted) {
          this.incompleteBytes -= aborted.received;
          aborted.parts = [];
          aborted.received = 0;
        }
        return;
      }
      case MessageType.WindowAckSize:
        this.peerWindowAckSize = readUInt32(payload, 'Window Acknowledgement Size');
        return;
      case MessageType.UserControl:
        if (payload.length >= 6 && payload.readUInt16BE(0) === UserControlEvent.PingRequest) {
          const response = Buffer.from(payload.subarray(0, 6));
          response.writeUInt16BE(UserControlEvent.PingResponse, 0);
          out.push({ type: 'send', data: this.encodeMessage(CONTROL_CSID, MessageType.UserControl, 0, response) });
        }
        return;
      case MessageType.Audio:
      case MessageType.Video:
        if (this.publishing === 'yes') {
          out.push({ type: 'media', kind: stream.typeId === MessageType.Audio ? 'audio' : 'video', timestamp: stream.timestamp, payload });
        }
        return;
      case MessageType.DataAmf0:
        if (this.publishing === 'yes') out.push({ type: 'media', kind: 'data', timestamp: stream.timestamp, payload: withoutSetDataFrame(payload) });
        return;
      case MessageType.CommandAmf0:
        this.handleCommand(decodeAmf0(payload), stream.streamId, out);
        return;
      case MessageType.CommandAmf3:
        // An AMF3 command is AMF0 values behind one format byte (spec, 7.1.1).
        this.handleCommand(decodeAmf0(payload.subarray(1)), stream.streamId, out);
        return;
      case MessageType.Acknowledgement:
      case MessageType.SetPeerBandwidth:
      case MessageType.DataAmf3:
      case MessageType.SharedObjectAmf3:
      case MessageType.SharedObjectAmf0:
        // Legal, but nothing a publish-only server acts on.
        return;
      case MessageType.Aggregate:
        // Neither OBS nor FFmpeg sends these; failing loudly beats silently losing media.
        throw new ProtocolError('aggregate messages are not supported');
      default:
        throw new ProtocolError(`unknown message type ${stream.typeId}`);
    }
  }

  private handleCommand(values: Amf0Value[], messageStreamId: number, out: RtmpOutput[]): void {
    const [name, transactionId, commandObject, ...args] = values;
    if (typeof name !== 'string' || typeof transactionId !== 'number') throw new ProtocolError('command message without a name and transaction id');
    if (name !== 'connect' && this.app === undefined) throw new ProtocolError(`'${name}' before 'connect'`);
    switch (name) {
      case 'connect':
        this.connect(transactionId, commandObject, out);
        return;
      case 'releaseStream':
      case 'FCPublish':
        // Flash-era preliminaries OBS and FFmpeg still send; an empty _result is what most servers answer.
        this.sendCommand(out, COMMAND_CSID, 0, '_result', transactionId, null, undefined);
        return;
      case 'createStream':
        this.sendCommand(out, COMMAND_CSID, 0, '_result', transactionId, null, ++this.lastStreamId);
        return;
      case 'publish': {
        if (this.publishing !== 'no') throw new ProtocolError("'publish' while already publishing");
        const key = args[0];
        this.publishing = 'pending';
        this.publishKey = typeof key === 'string' ? key : '';
        this.publishStreamId = messageStreamId;
        out.push({ type: 'publish', app: this.app!, key: this.publishKey });
        return;
      }
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        // Publishers send several of these in a row; the first one ends the stream.
        if (this.publishing === 'yes') {
          this.publishing = 'no';
          out.push({ type: 'end' });
        }
        return;
      case '_result':
      case '_error':
      case 'onStatus':
        return;
      default:
        // Playback and anything else: say no, so a client waiting on an answer does not hang.
        if (transactionId > 0) {
          this.sendCommand(out, COMMAND_CSID, 0, '_error', transactionId, null, {
            level: 'error',
            code: 'NetConnection.Call.Failed',
            description: `'${name}' is not supported by this server`,
          });
        }
    }
  }

  private connect(transactionId: number, commandObject: Amf0Value, out: RtmpOutput[]): void {
    if (this.app !== undefined) throw new ProtocolError("second 'connect' on one connection");
    const properties = isObject(commandObject) ? commandObject : {};
    this.app = typeof properties.app === 'string' ? properties.app.replace(/\/+$/, '') : '';

    const control = (type: number, payload: Buffer) => this.encodeMessage(CONTROL_CSID, type, 0, payload);
    const windowAck = Buffer.alloc(4);
    windowAck.writeUInt32BE(OUR_WINDOW_ACK_SIZE);
    // Limit type 2 = dynamic, the value servers conventionally send.
    const peerBandwidth = Buffer.alloc(5);
    peerBandwidth.writeUInt32BE(OUR_WINDOW_ACK_SIZE);
    peerBandwidth[4] = 2;
    const chunkSize = Buffer.alloc(4);
    chunkSize.writeUInt32BE(OUR_CHUNK_SIZE);
    const setup = [control(MessageType.WindowAckSize, windowAck), control(MessageType.SetPeerBandwidth, peerBandwidth), control(MessageType.SetChunkSize, chunkSize)];
    // Our chunks are cut at the new size from the message after the one announcing it.
    this.outChunkSize = OUR_CHUNK_SIZE;
    out.push({ type: 'send', data: Buffer.concat(setup) });
    this.sendCommand(out, COMMAND_CSID, 0, '_result', transactionId, { fmsVer: 'FMS/3,0,1,123', capabilities: 31 }, {
      level: 'status',
      code: 'NetConnection.Connect.Success',
      description: 'Connection succeeded.',
      objectEncoding: typeof properties.objectEncoding === 'number' ? properties.objectEncoding : 0,
    });
  }

  /** Sends an Acknowledgement each time the peer's announced window of bytes has passed. */
  private acknowledge(out: RtmpOutput[]): void {
    if (this.peerWindowAckSize === 0 || this.bytesReceived - this.lastAcknowledged < this.peerWindowAckSize) return;
    this.lastAcknowledged = this.bytesReceived;
    const sequence = Buffer.alloc(4);
    sequence.writeUInt32BE(this.bytesReceived >>> 0);
    out.push({ type: 'send', data: this.encodeMessage(CONTROL_CSID, MessageType.Acknowledgement, 0, sequence) });
  }

  private onStatus(level: 'status' | 'error', code: string, description: string): Buffer {
    const payload = encodeAmf0('onStatus', 0, null, { level, code, description, details: this.publishKey });
    return this.encodeMessage(COMMAND_CSID, MessageType.CommandAmf0, this.publishStreamId, payload);
  }

  private sendCommand(out: RtmpOutput[], csid: number, streamId: number, ...values: Amf0Value[]): void {
    out.push({ type: 'send', data: this.encodeMessage(csid, MessageType.CommandAmf0, streamId, encodeAmf0(...values)) });
  }

  /** One message as chunks: a format 0 header, then a 1-byte format 3 header before each further chunk. */
  private encodeMessage(csid: number, typeId: number, streamId: number, payload: Buffer): Buffer {
    const header = Buffer.alloc(12);
    header[0] = csid; // format 0; our chunk stream ids are all below 64
    header.writeUIntBE(0, 1, 3); // timestamp: nothing we send is timed
    header.writeUIntBE(payload.length, 4, 3);
    header[7] = typeId;
    header.writeUInt32LE(streamId, 8);
    const parts = [header, payload.subarray(0, this.outChunkSize)];
    for (let at = this.outChunkSize; at < payload.length; at += this.outChunkSize) {
      parts.push(Buffer.of(0xc0 | csid), payload.subarray(at, at + this.outChunkSize));
    }
    return Buffer.concat(parts);
  }
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

/**
 * Publishers wrap metadata as `@setDataFrame("onMetaData", {...})` so a
 * server stores it; the FLV script tag is the part after the wrapper.
 */
function withoutSetDataFrame(payload: Buffer): Buffer {
  try {
    const reader = new Amf0Reader(payload);
    if (reader.readValue() === '@setDataFrame') return payload.subarray(reader.offset);
  } catch {
    // Not AMF0 we understand: pass it on untouched, the demuxer may still make sense of it.
  }
  return payload;
}

function readUInt32(payload: Buffer, what: string): number {
  if (payload.length < 4) throw new ProtocolError(`${what} message of ${payload.length} bytes, expected 4`);
  return payload.readUInt32BE(0);
}

function isObject(value: Amf0Value): value is Amf0Object {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Amf0EcmaArray);
}
