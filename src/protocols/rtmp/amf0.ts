/**
 * AMF0, the serialisation RTMP uses for commands (`connect`, `publish`, ...)
 * and for script data (`onMetaData`). Only the types RTMP peers actually send
 * are supported; anything else is a decode error, which for a server means
 * "this peer is not speaking RTMP".
 */

export type Amf0Value = number | boolean | string | null | undefined | Amf0Object | Amf0EcmaArray | Amf0Value[];

export interface Amf0Object {
  [key: string]: Amf0Value;
}

/**
 * An ECMA array: on the wire a keyed object with a count in front. FFmpeg and
 * OBS send `onMetaData` as one. It gets its own class so a decode/encode round
 * trip gives back the same bytes, not a plain object.
 */
export class Amf0EcmaArray {
  constructor(readonly properties: Amf0Object) {}
}

export class Amf0Error extends Error {
  override name = 'Amf0Error';
}

const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  Null: 0x05,
  Undefined: 0x06,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  LongString: 0x0c,
} as const;

// Nesting this deep is never legitimate; the limit keeps garbage from exhausting the stack.
const MAX_DEPTH = 32;

/** Encodes values back to back, as RTMP command messages lay them out. */
export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) writeValue(parts, value, 0);
  return Buffer.concat(parts);
}

/** Decodes every value in `data`; throws `Amf0Error` on truncated or unknown input. */
export function decodeAmf0(data: Buffer): Amf0Value[] {
  const reader = new Amf0Reader(data);
  const values: Amf0Value[] = [];
  while (!reader.done) values.push(reader.readValue());
  return values;
}

/** Sequential decoder; `offset` tells callers how many bytes the values read so far took. */
export class Amf0Reader {
  offset = 0;

  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.offset >= this.data.length;
  }

  readValue(depth = 0): Amf0Value {
    if (depth > MAX_DEPTH) throw new Amf0Error(`AMF0 nesting deeper than ${MAX_DEPTH}`);
    const marker = this.take(1)[0]!;
    switch (marker) {
      case Marker.Number:
        return this.take(8).readDoubleBE(0);
      case Marker.Boolean:
        return this.take(1)[0] !== 0;
      case Marker.String:
        return this.readUtf8(this.take(2).readUInt16BE(0));
      case Marker.LongString:
        return this.readUtf8(this.take(4).readUInt32BE(0));
      case Marker.Object:
        return this.readProperties(depth);
      case Marker.Null:
        return null;
      case Marker.Undefined:
        return undefined;
      case Marker.EcmaArray:
        // The count is only a hint (FFmpeg writes 0 for live streams); the end marker is what counts.
        this.take(4);
        return new Amf0EcmaArray(this.readProperties(depth));
      case Marker.StrictArray: {
        const count = this.take(4).readUInt32BE(0);
        // Each element takes at least one byte, so a larger count is a lie we need not allocate for.
        if (count > this.data.length - this.offset) throw new Amf0Error(`AMF0 strict array of ${count} elements in ${this.data.length - this.offset} bytes`);
        const items: Amf0Value[] = [];
        for (let i = 0; i < count; i++) items.push(this.readValue(depth + 1));
        return items;
      }
      default:
        throw new Amf0Error(`unsupported AMF0 marker 0x${marker.toString(16).padStart(2, '0')} at byte ${this.offset - 1}`);
    }
  }

  private readProperties(depth: number): Amf0Object {
    const object: Amf0Object = {};
    for (;;) {
      const key = this.readUtf8(this.take(2).readUInt16BE(0));
      if (key === '' && this.data[this.offset] === Marker.ObjectEnd) {
        this.offset++;
        return object;
      }
      // defineProperty, so a key named "__proto__" from the wire is just a key, not a prototype swap.
      Object.defineProperty(object, key, { value: this.readValue(depth + 1), enumerable: true, writable: true, configurable: true });
    }
  }

  private readUtf8(length: number): string {
    return this.take(length).toString('utf8');
  }

  private take(length: number): Buffer {
    if (this.offset + length > this.data.length) throw new Amf0Error(`AMF0 data truncated at byte ${this.offset} (needed ${length} more)`);
    const bytes = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }
}

function writeValue(parts: Buffer[], value: Amf0Value, depth: number): void {
  if (depth > MAX_DEPTH) throw new Amf0Error(`AMF0 nesting deeper than ${MAX_DEPTH}`);
  if (value === null) {
    parts.push(Buffer.of(Marker.Null));
  } else if (value === undefined) {
    parts.push(Buffer.of(Marker.Undefined));
  } else if (typeof value === 'number') {
    const bytes = Buffer.alloc(9);
    bytes[0] = Marker.Number;
    bytes.writeDoubleBE(value, 1);
    parts.push(bytes);
  } else if (typeof value === 'boolean') {
    parts.push(Buffer.of(Marker.Boolean, value ? 1 : 0));
  } else if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    if (utf8.length <= 0xffff) {
      parts.push(Buffer.of(Marker.String, utf8.length >> 8, utf8.length & 0xff), utf8);
    } else {
      const head = Buffer.alloc(5);
      head[0] = Marker.LongString;
      head.writeUInt32BE(utf8.length, 1);
      parts.push(head, utf8);
    }
  } else if (Array.isArray(value)) {
    const head = Buffer.alloc(5);
    head[0] = Marker.StrictArray;
    head.writeUInt32BE(value.length, 1);
    parts.push(head);
    for (const item of value) writeValue(parts, item, depth + 1);
  } else if (value instanceof Amf0EcmaArray) {
    const head = Buffer.alloc(5);
    head[0] = Marker.EcmaArray;
    head.writeUInt32BE(Object.keys(value.properties).length, 1);
    parts.push(head);
    writeProperties(parts, value.properties, depth);
  } else {
    parts.push(Buffer.of(Marker.Object));
    writeProperties(parts, value, depth);
  }
}

function writeProperties(parts: Buffer[], object: Amf0Object, depth: number): void {
  for (const [key, item] of Object.entries(object)) {
    const utf8 = Buffer.from(key, 'utf8');
    if (utf8.length > 0xffff) throw new Amf0Error(`AMF0 property name longer than 65535 bytes`);
    parts.push(Buffer.of(utf8.length >> 8, utf8.length & 0xff), utf8);
    writeValue(parts, item, depth + 1);
  }
  parts.push(Buffer.of(0, 0, Marker.ObjectEnd));
}
