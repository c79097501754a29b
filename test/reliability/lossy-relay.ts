import { createSocket, type Socket } from 'node:dgram';
import { rng } from './sdp-fuzz.js';

/**
 * A UDP relay between a WebRTC viewer and the server that loses and reorders
 * the server's media. Both descriptions are rewritten so every path runs
 * through it: the server is told the viewer is at the relay's back socket
 * (`rewriteOffer`), the viewer that the server is at its front socket
 * (`rewriteAnswer`); other candidates are removed. STUN and DTLS pass
 * untouched so the session comes up; of the SRTP/SRTCP packets (first byte
 * 128-191) toward the viewer, `drop` are lost and `reorder` held back behind
 * the next one.
 */
export class LossyRelay {
  private readonly front: Socket = createSocket('udp4');
  private readonly back: Socket = createSocket('udp4');
  private viewer?: { address: string; port: number };
  private server?: { address: string; port: number };
  private held?: Buffer;
  private readonly random: () => number;
  dropped = 0;
  reordered = 0;
  forwarded = 0;

  private constructor(private readonly options: { drop: number; reorder: number; seed?: number }) {
    this.random = rng(options.seed ?? 1);
    this.front.on('message', (message) => {
      if (this.server) this.back.send(message, this.server.port, this.server.address);
    });
    this.back.on('message', (message) => this.toViewer(message));
  }

  static async open(options: { drop: number; reorder: number; seed?: number }): Promise<LossyRelay> {
    const relay = new LossyRelay(options);
    await Promise.all([relay.front, relay.back].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
    return relay;
  }

  private toViewer(message: Buffer): void {
    const viewer = this.viewer;
    if (!viewer) return;
    const media = message[0]! >= 128 && message[0]! <= 191;
    if (media) {
      const roll = this.random();
      if (roll < this.options.drop) {
        this.dropped++;
        return;
      }
      if (roll < this.options.drop + this.options.reorder && !this.held) {
        this.held = message;
        this.reordered++;
        return;
      }
    }
    this.forwarded++;
    this.front.send(message, viewer.port, viewer.address);
    if (media && this.held) {
      const held = this.held;
      this.held = undefined;
      this.front.send(held, viewer.port, viewer.address);
    }
  }

  /** The viewer's offer, its candidate replaced by the relay's back socket (the viewer's own is remembered). */
  rewriteOffer(offer: string): string {
    const { sdp, was } = pointAt(offer, this.back.address().port);
    this.viewer = was;
    return sdp;
  }

  /** The server's answer, its candidate replaced by the relay's front socket (the server's own is remembered). */
  rewriteAnswer(answer: string): string {
    const { sdp, was } = pointAt(answer, this.front.address().port);
    this.server = was;
    return sdp;
  }

  close(): void {
    this.front.close();
    this.back.close();
  }
}

/** Keeps the one 127.0.0.1 UDP host candidate of a description, moved to `port`. */
function pointAt(sdp: string, port: number): { sdp: string; was: { address: string; port: number } } {
  const match = / udp \d+ 127\.0\.0\.1 (\d+) typ host/i.exec(sdp);
  if (!match) throw new Error('no 127.0.0.1 UDP host candidate');
  const was = { address: '127.0.0.1', port: Number(match[1]) };
  const lines = sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || line.includes(` 127.0.0.1 ${was.port} typ host`))
    .map((line) => (line.startsWith('a=candidate:') ? line.replace(` 127.0.0.1 ${was.port} `, ` 127.0.0.1 ${port} `) : line));
  return { sdp: lines.join('\r\n'), was };
}
