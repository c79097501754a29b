/**
 * What a WHIP or WHEP offer asks for, read before any of it reaches werift
 * (pure, so every malformed offer can be tested without a peer connection).
 *
 * werift accepts a lot and fails late, or throws from deep inside on input
 * it does not expect; checking the offer here first turns "malformed" and
 * "nothing we can use" into a 400 or 406 with a reason a person can act on.
 * It also chooses the video codec: werift would answer every codec it knows
 * in the offer's order and send (or expect) the first, so the offer is
 * narrowed to the one payload type chosen before werift sees it.
 */

export interface OfferedCodec {
  payloadType: number;
  /** As in the rtpmap, upper case: `H264`, `VP8`, `OPUS`, `RTX`, … */
  name: string;
  clockRate: number;
  /** The fmtp parameters, lower-cased keys. */
  params: Record<string, string>;
}

export interface MediaSection {
  kind: string;
  /** The `m=` line's index, counted from 0. */
  index: number;
  mid?: string;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  codecs: OfferedCodec[];
}

export interface ParsedOffer {
  sections: MediaSection[];
}

export type OfferResult = { ok: true; offer: ParsedOffer } | { ok: false; reason: string };

const MAX_OFFER_BYTES = 64 * 1024;

/**
 * The media sections a publisher or viewer can use: one video and one
 * audio (and a second of another kind is no more use). More are refused
 * before werift sees the offer: werift makes an ICE and DTLS transport for
 * each unbundled section, and its bookkeeping of them grows faster than
 * their number (300 sections blocked the event loop for over a second, 900
 * for 36 s, and left ~2 sockets per section behind; issue #28).
 */
const MAX_SECTIONS_PER_KIND = 1;

/** Reads an offer; `reason` says what is wrong when it cannot be used at all. */
export function parseOffer(sdp: string): OfferResult {
  if (sdp.length === 0) return fail('empty body: expected an SDP offer');
  if (sdp.length > MAX_OFFER_BYTES) return fail(`SDP offer larger than ${MAX_OFFER_BYTES} bytes`);
  const lines = sdp.split(/\r?\n/).filter((line) => line.length > 0);
  if (lines[0] !== 'v=0') return fail('not an SDP offer: it must start with "v=0"');
  const tooMany = tooManySections(lines);
  if (tooMany) return fail(tooMany);
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) return fail(`malformed SDP line: "${clip(line)}"`);
  }
  let sessionUfrag = false;
  let sessionPwd = false;
  let sessionFingerprint = false;
  const sections: (MediaSection & { ufrag: boolean; pwd: boolean; fingerprint: boolean; proto: string })[] = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const match = /^m=(\w+) (\d+) (\S+)((?: [\w/]+)*)$/.exec(line);
      if (!match) return fail(`malformed media line: "${clip(line)}"`);
      const formats = match[4]!.trim().split(' ').filter(Boolean);
      sections.push({ kind: match[1]!, index: sections.length, direction: 'sendrecv', codecs: [], ufrag: false, pwd: false, fingerprint: false, proto: match[3]! });
      for (const format of formats) {
        if (/^\d+$/.test(format)) sections.at(-1)!.codecs.push({ payloadType: Number(format), name: '', clockRate: 0, params: {} });
      }
      continue;
    }
    const section = sections.at(-1);
    if (line.startsWith('a=ice-ufrag:')) section ? (section.ufrag = true) : (sessionUfrag = true);
    else if (line.startsWith('a=ice-pwd:')) section ? (section.pwd = true) : (sessionPwd = true);
    else if (line.startsWith('a=fingerprint:')) section ? (section.fingerprint = true) : (sessionFingerprint = true);
    if (!section) continue;
    const attribute = /^a=([\w-]+)(?::(.*))?$/.exec(line);
    if (!attribute) continue;
    const [, name, value = ''] = attribute;
    switch (name) {
      case 'mid':
        section.mid = value;
        break;
      case 'sendrecv':
      case 'sendonly':
      case 'recvonly':
      case 'inactive':
        section.direction = name;
        break;
      case 'rtpmap': {
        const map = /^(\d+) ([\w-]+)\/(\d+)/.exec(value);
        const codec = map && section.codecs.find((c) => c.payloadType === Number(map[1]));
        if (!map) return fail(`malformed rtpmap: "${clip(line)}"`);
        if (codec) {
          codec.name = map[2]!.toUpperCase();
          codec.clockRate = Number(map[3]);
        }
        break;
      }
      case 'fmtp': {
        const fmtp = /^(\d+) (.*)$/.exec(value);
        const codec = fmtp && section.codecs.find((c) => c.payloadType === Number(fmtp[1]));
        if (codec) codec.params = parseFmtp(fmtp[2]!);
        break;
      }
    }
  }
  if (sections.length === 0) return fail('the offer has no media section (m=)');
  for (const section of sections) {
    if (section.codecs.length === 0) continue; // data channels (m=application … webrtc-datachannel)
    if (!/^UDP\/TLS\/RTP\/SAVPF$/.test(section.proto)) return fail(`media section ${section.index} uses ${section.proto}; WebRTC needs UDP/TLS/RTP/SAVPF`);
    if (!section.ufrag && !sessionUfrag) return fail(`media section ${section.index} has no ICE credentials (a=ice-ufrag)`);
    // Without one werift answers, then closes the peer at once (issue #28).
    if (!section.pwd && !sessionPwd) return fail(`media section ${section.index} has no ICE password (a=ice-pwd)`);
    if (!section.fingerprint && !sessionFingerprint) return fail(`media section ${section.index} has no DTLS fingerprint (a=fingerprint)`);
    // Static payload types (0–34) may go without an rtpmap; dynamic ones may not.
    for (const codec of section.codecs) {
      if (!codec.name && codec.payloadType >= 96) return fail(`payload type ${codec.payloadType} in media section ${section.index} has no rtpmap`);
    }
  }
  return { ok: true, offer: { sections: sections.map(({ ufrag: _u, pwd: _w, fingerprint: _f, proto: _p, ...rest }) => rest) } };
}

/** The video codecs frc decodes (WHIP) or sends (WHEP). */
export type VideoCodecName = 'H264' | 'VP8';

export interface CodecChoice {
  section: MediaSection;
  codec: OfferedCodec;
}

/**
 * Picks the video codec for one direction: the first codec in the offer's
 * order (the peer's preference) that is in `accept`, which `usable` may
 * narrow further. H.264 needs packetization-mode 1 when frc sends (FU-A);
 * receiving takes either mode. Only the first video section is used.
 */
export function chooseVideoCodec(offer: ParsedOffer, accept: readonly VideoCodecName[], usable: (codec: OfferedCodec) => boolean = () => true): CodecChoice | { reason: string } {
  const section = offer.sections.find((s) => s.kind === 'video');
  if (!section) return { reason: 'the offer has no video section' };
  const codec = section.codecs.find((c) => (accept as readonly string[]).includes(c.name) && usable(c));
  if (!codec) {
    const offered = [...new Set(section.codecs.map((c) => c.name).filter((n) => n && !['RTX', 'RED', 'ULPFEC', 'FLEXFEC-03'].includes(n)))];
    return { reason: `no usable video codec: offered ${offered.join(', ') || 'none'}; this server takes ${accept.join(' or ')}` };
  }
  return { section, codec };
}

/**
 * The offer's Opus, if it has an audio section that can carry it in the
 * wanted direction: audio is optional on both WHIP and WHEP (an offer
 * without it gets video only), and Opus is the one audio codec WebRTC
 * peers all have, so nothing else is looked for.
 */
export function chooseAudioCodec(offer: ParsedOffer, direction: 'send' | 'receive'): CodecChoice | undefined {
  const section = offer.sections.find((s) => s.kind === 'audio');
  if (!section) return undefined;
  const wanted = direction === 'send' ? ['sendonly', 'sendrecv'] : ['recvonly', 'sendrecv'];
  if (!wanted.includes(section.direction)) return undefined;
  const codec = section.codecs.find((c) => c.name === 'OPUS' && c.clockRate === 48000);
  return codec ? { section, codec } : undefined;
}

/** H.264 that frc can send: non-interleaved (FU-A) packetization. */
export function h264PacketizationMode1(codec: OfferedCodec): boolean {
  return codec.name !== 'H264' || codec.params['packetization-mode'] === '1';
}

/**
 * Rewrites an offer so that one media section lists only `payloadType`
 * (its rtpmap, fmtp and rtcp-fb lines kept, every other payload type's
 * dropped); other sections are left as they are.
 */
export function restrictOffer(sdp: string, sectionIndex: number, payloadType: number): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const out: string[] = [];
  let index = -1;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      index++;
      if (index === sectionIndex) {
        const parts = line.split(' ');
        out.push([...parts.slice(0, 3), String(payloadType)].join(' '));
        continue;
      }
    }
    if (index === sectionIndex) {
      const perPayload = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+|\*)[ ]/.exec(line);
      if (perPayload && perPayload[1] !== '*' && Number(perPayload[1]) !== payloadType) continue;
    }
    out.push(line);
  }
  return out.join(eol);
}

/** Why the offer has more media sections than a publisher or viewer can use, if it has. */
function tooManySections(lines: string[]): string | undefined {
  const perKind = new Map<string, number>();
  for (const line of lines) {
    if (!line.startsWith('m=')) continue;
    const space = line.indexOf(' ');
    const kind = space < 0 ? line.slice(2) : line.slice(2, space);
    perKind.set(kind, (perKind.get(kind) ?? 0) + 1);
  }
  const over = [...perKind].filter(([, count]) => count > MAX_SECTIONS_PER_KIND);
  if (over.length === 0) return undefined;
  const total = [...perKind.values()].reduce((sum, count) => sum + count, 0);
  return `the offer has ${total} media sections (${over.map(([kind, count]) => `${count} ${clip(kind)}`).join(', ')}); this server uses at most one video and one audio section`;
}

/**
 * The offer without the ICE candidates no check should go to: unspecified
 * (0.0.0.0, ::), broadcast (255.255.255.255) and multicast addresses, and
 * hostnames other than mDNS `.local` names (RFC 8828; werift resolves
 * those over mDNS). werift sent ~10 STUN checks to each candidate, whatever
 * its address, and resolved any hostname through DNS (issue #28): an offer
 * could aim the server's packets and lookups anywhere. `dropped` lists the
 * addresses left out, for the log.
 */
export function withoutUnusableCandidates(sdp: string): { sdp: string; dropped: string[] } {
  const dropped: string[] = [];
  const lines = sdp.split(/(?<=\n)/);
  const kept = lines.filter((line) => {
    // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
    const match = /^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+/.exec(line);
    if (!match || candidateAddressUsable(match[1]!)) return true;
    dropped.push(match[1]!);
    return false;
  });
  return { sdp: dropped.length === 0 ? sdp : kept.join(''), dropped };
}

/** Whether ICE checks may go to `address` (an IP literal or a hostname). */
export function candidateAddressUsable(address: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((octet) => octet > 255)) return false;
    if (a === 0) return false; // "this network", 0.0.0.0 among it
    if (a >= 224 && a <= 239) return false; // multicast
    if (a === 255 && b === 255 && c === 255 && d === 255) return false; // limited broadcast
    return a < 240; // 240/4 is reserved
  }
  if (address.includes(':')) {
    const lower = address.toLowerCase();
    if (/^[0:]+$/.test(lower.replace(/^\[|\]$/g, ''))) return false; // ::
    return !lower.startsWith('ff'); // multicast
  }
  // A hostname: only mDNS names, which browsers put in place of their local addresses.
  return /^[a-z0-9-]+(\.[a-z0-9-]+)*\.local$/i.test(address);
}

function parseFmtp(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const part of text.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key) params[key.toLowerCase()] = value.join('=');
  }
  return params;
}

function fail(reason: string): OfferResult {
  return { ok: false, reason };
}

function clip(line: string): string {
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
