import type { Logger } from '../../base/logger.js';
import type { Socket } from 'node:net';

/**
 * Open connections per remote address, capped: a pure core (the caller
 * passes the times), with `admit` as its adapter to sockets. RTMP has no
 * authentication before its `publish` command, so without a cap one address
 * could open connections until the process ran out of file descriptors;
 * each holds its handshake deadline's worth of buffers meanwhile (issue
 * #28). A refused connection is closed at once; its log line is rate-limited
 * per address, so a flood cannot flood the log too.
 */
export class ConnectionCap {
  private readonly open = new Map<string, number>();
  /** Per address: refusals not yet logged, and when one last was. */
  private readonly refused = new Map<string, { count: number; loggedAt: number }>();

  constructor(
    readonly maxPerAddress: number,
    private readonly logEveryMs = 10_000,
  ) {}

  /**
   * Takes a slot for a new connection from `address`: `ok`, or the refusal
   * with the line to log (none when one was logged for it in the last
   * `logEveryMs`).
   */
  take(address: string, now: number): { ok: true } | { ok: false; log?: string } {
    const open = this.open.get(address) ?? 0;
    if (open < this.maxPerAddress) {
      this.open.set(address, open + 1);
      return { ok: true };
    }
    const refused = this.refused.get(address) ?? { count: 0, loggedAt: -Infinity };
    refused.count++;
    this.refused.set(address, refused);
    if (now - refused.loggedAt < this.logEveryMs) return { ok: false };
    const log = `refused ${refused.count} connection(s) from ${address}: it has ${open} open, its limit (limits.maxRtmpConnectionsPerIp)`;
    refused.count = 0;
    refused.loggedAt = now;
    return { ok: false, log };
  }

  /** A connection from `address` closed. */
  release(address: string): void {
    const open = (this.open.get(address) ?? 0) - 1;
    if (open > 0) this.open.set(address, open);
    else {
      this.open.delete(address);
      this.refused.delete(address);
    }
  }

  /** Open connections from `address`. */
  count(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

/**
 * Takes a slot in `cap` for `socket`, given back when it closes; or, over
 * the cap, closes the socket at once (logging the refusal) and returns false.
 */
export function admit(cap: ConnectionCap, socket: Socket, logger: Logger): boolean {
  const address = socket.remoteAddress ?? 'unknown';
  const slot = cap.take(address, performance.now());
  if (!slot.ok) {
    socket.destroy();
    if (slot.log) logger.warn(slot.log);
    return false;
  }
  socket.once('close', () => cap.release(address));
  return true;
}
