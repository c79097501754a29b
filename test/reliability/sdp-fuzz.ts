/**
 * A seeded SDP mutator: from a real offer it makes bodies that are truncated,
 * have flipped bytes, or lines duplicated, removed or swapped, so a failure
 * names its seed and reproduces.
 */
export function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32: fast, deterministic, good enough to pick mutations.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

export function mutateSdp(sdp: string, seed: number): { body: string; how: string } {
  const random = rng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const lines = sdp.split('\r\n');
  const hows: string[] = [];
  const rounds = 1 + pick(3);
  let body = sdp;
  for (let i = 0; i < rounds; i++) {
    switch (pick(6)) {
      case 0: {
        const at = pick(body.length);
        body = body.slice(0, at);
        hows.push(`truncate@${at}`);
        break;
      }
      case 1: {
        const bytes = Buffer.from(body, 'latin1');
        const flips = 1 + pick(8);
        for (let f = 0; f < flips; f++) bytes[pick(bytes.length)] ^= 1 << pick(8);
        body = bytes.toString('latin1');
        hows.push(`flip${flips}`);
        break;
      }
      case 2: {
        const at = pick(lines.length);
        lines.splice(at, 0, lines[at]!);
        body = lines.join('\r\n');
        hows.push(`dup-line${at}`);
        break;
      }
      case 3: {
        const at = pick(lines.length);
        lines.splice(at, 1);
        body = lines.join('\r\n');
        hows.push(`drop-line${at}`);
        break;
      }
      case 4: {
        const a = pick(lines.length);
        const b = pick(lines.length);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        body = lines.join('\r\n');
        hows.push(`swap${a},${b}`);
        break;
      }
      default: {
        // A value made absurd: a huge number or an empty field where a number belongs.
        const at = pick(lines.length);
        lines[at] = lines[at]!.replace(/\d+/, pick(2) ? '99999999999999999999' : '');
        body = lines.join('\r\n');
        hows.push(`number-line${at}`);
      }
    }
  }
  return { body, how: hows.join('+') };
}

/**
 * An offer with `sections` video m-lines, as the probe of issue #28 sent it:
 * the ICE credentials and fingerprint of a real offer at session level, and
 * per section only its m-line, mid and rtpmap, which is what keeps 900 of
 * them under the 64 KiB body limit. No BUNDLE group: each section would get
 * its own ICE and DTLS transport.
 */
export function floodOffer(real: string, sections: number): string {
  const lines = real.split('\r\n');
  const pick = (prefix: string) => lines.find((line) => line.startsWith(prefix))!;
  const head = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', pick('a=ice-ufrag:'), pick('a=ice-pwd:'), pick('a=fingerprint:'), 'a=setup:actpass'];
  const body: string[] = [];
  for (let i = 0; i < sections; i++) {
    body.push('m=video 9 UDP/TLS/RTP/SAVPF 102', `a=mid:${i}`, 'a=rtpmap:102 H264/90000');
    if (i === 0) body.push('a=recvonly', 'a=rtcp-mux', 'a=fmtp:102 packetization-mode=1;profile-level-id=42e01f');
  }
  return [...head, ...body, ''].join('\r\n');
}
