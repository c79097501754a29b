import { type Amf0Object, type Amf0Value, Amf0EcmaArray, Amf0Reader, decodeAmf0, encodeAmf0 } from './amf0.js';
import { ChunkReader, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_MESSAGE_SIZE, encodeMessage, MessageType, ProtocolError, readUInt32, type RtmpMessage } from './chunk-stream.js';
import { errorMessage } from '../../base/errors.js';

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
 * The handshake and the chunking are `ChunkReader`'s and `encodeMessage`'s
 * (chunk-stream.ts); this is the message and command layer above them.
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

/**
 * The largest message a peer may send before its publish is accepted: the
 * commands before it take a few hundred bytes. Without it, a client that had
 * not even said what it would publish could park two 16 MiB messages in
 * memory (20 such clients took the RSS from 495 to 1,181 MB; issue #28).
 */
export const MAX_MESSAGE_SIZE_BEFORE_PUBLISH = 64 * 1024;

/** What we announce and send with: large enough that commands go out as one chunk. */
const OUR_CHUNK_SIZE = 4096;
/** How many bytes the peer may send before it should expect our acknowledgement; a common server value. */
const OUR_WINDOW_ACK_SIZE = 5_000_000;

const UserControlEvent = { StreamBegin: 0, PingRequest: 6, PingResponse: 7 } as const;

// Chunk stream 2 is reserved for protocol control messages; commands conventionally use 3.
const CONTROL_CSID = 2;
const COMMAND_CSID = 3;

export class RtmpSession {
  private closedState = false;
  private readonly reader: ChunkReader;
  private outChunkSize = DEFAULT_CHUNK_SIZE;

  private bytesReceived = 0;
  private lastAcknowledged = 0;
  private peerWindowAckSize = 0;

  private app?: string;
  private lastStreamId = 0;
  private publishing: 'no' | 'pending' | 'yes' = 'no';
  private publishKey = '';
  private publishStreamId = 0;

  constructor(private readonly options: RtmpSessionOptions = {}) {
    this.reader = new ChunkReader(options.maxMessageSize);
    this.reader.limitMessages(MAX_MESSAGE_SIZE_BEFORE_PUBLISH);
  }

  /** True once the session has failed or rejected its publisher; further input is ignored. */
  get closed(): boolean {
    return this.closedState;
  }

  /** Feeds bytes from the peer, in any split. Never throws: failures are an `error` output. */
  processInput(data: Buffer): RtmpOutput[] {
    if (this.closedState) return [];
    const out: RtmpOutput[] = [];
    this.bytesReceived += data.length;
    this.reader.push(data);
    try {
      // A pending publish holds the rest of the input, unparsed, until `accept()` or `reject()`.
      while (!this.closedState && this.publishing !== 'pending') {
        const next = this.reader.next();
        if (!next) break;
        if (next.type === 'handshake') out.push({ type: 'send', data: next.reply });
        else this.handleMessage(next.message, out);
      }
      this.acknowledge(out);
    } catch (error) {
      this.close();
      out.push({ type: 'error', reason: errorMessage(error) });
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
    // Media (a keyframe can take megabytes) may come from now on.
    this.reader.limitMessages(this.options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    const streamBegin = Buffer.alloc(6);
    streamBegin.writeUInt16BE(UserControlEvent.StreamBegin, 0);
    streamBegin.writeUInt32BE(this.publishStreamId, 2);
    const data = Buffer.concat([
      this.encode(CONTROL_CSID, MessageType.UserControl, 0, streamBegin),
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
    this.close();
    return [{ type: 'send', data: this.onStatus('error', code, reason) }];
  }

  private close(): void {
    this.closedState = true;
    this.reader.clear();
  }

  private handleMessage(message: RtmpMessage, out: RtmpOutput[]): void {
    const { typeId, payload } = message;
    switch (typeId) {
      case MessageType.WindowAckSize:
        this.peerWindowAckSize = readUInt32(payload, 'Window Acknowledgement Size');
        return;
      case MessageType.UserControl:
        if (payload.length >= 6 && payload.readUInt16BE(0) === UserControlEvent.PingRequest) {
          const response = Buffer.from(payload.subarray(0, 6));
          response.writeUInt16BE(UserControlEvent.PingResponse, 0);
          out.push({ type: 'send', data: this.encode(CONTROL_CSID, MessageType.UserControl, 0, response) });
        }
        return;
      case MessageType.Audio:
      case MessageType.Video:
        if (this.publishing === 'yes') {
          out.push({ type: 'media', kind: typeId === MessageType.Audio ? 'audio' : 'video', timestamp: message.timestamp, payload });
        }
        return;
      case MessageType.DataAmf0:
        if (this.publishing === 'yes') out.push({ type: 'media', kind: 'data', timestamp: message.timestamp, payload: withoutSetDataFrame(payload) });
        return;
      case MessageType.CommandAmf0:
        this.handleCommand(decodeAmf0(payload), message.streamId, out);
        return;
      case MessageType.CommandAmf3:
        // An AMF3 command is AMF0 values behind one format byte (spec, 7.1.1).
        this.handleCommand(decodeAmf0(payload.subarray(1)), message.streamId, out);
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
        throw new ProtocolError(`unknown message type ${typeId}`);
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

    const control = (type: number, payload: Buffer) => this.encode(CONTROL_CSID, type, 0, payload);
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
    out.push({ type: 'send', data: this.encode(CONTROL_CSID, MessageType.Acknowledgement, 0, sequence) });
  }

  private onStatus(level: 'status' | 'error', code: string, description: string): Buffer {
    const payload = encodeAmf0('onStatus', 0, null, { level, code, description, details: this.publishKey });
    return this.encode(COMMAND_CSID, MessageType.CommandAmf0, this.publishStreamId, payload);
  }

  private sendCommand(out: RtmpOutput[], csid: number, streamId: number, ...values: Amf0Value[]): void {
    out.push({ type: 'send', data: this.encode(csid, MessageType.CommandAmf0, streamId, encodeAmf0(...values)) });
  }

  private encode(csid: number, typeId: number, streamId: number, payload: Buffer): Buffer {
    return encodeMessage(csid, typeId, streamId, payload, this.outChunkSize);
  }
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

function isObject(value: Amf0Value): value is Amf0Object {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Amf0EcmaArray);
}
