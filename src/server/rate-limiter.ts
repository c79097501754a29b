/**
 * Requests per client, as token buckets: each client (an IP address) may
 * make `burst` requests at once and `perSecond` on average after that. Pure:
 * the clock is passed in. Memory is bounded: past `maxClients` tracked
 * clients, those whose bucket has refilled (idle ones) are forgotten, and if
 * none has, the oldest are.
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
  /** Clients tracked at most (default 10 000). */
  maxClients?: number;
}

export type RateVerdict = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limit: RateLimit) {}

  /** Takes one request's token for `client` at `nowMs`. */
  take(client: string, nowMs: number): RateVerdict {
    const { perSecond, burst } = this.limit;
    let bucket = this.buckets.get(client);
    if (!bucket) {
      this.makeRoom(nowMs);
      bucket = { tokens: burst, at: nowMs };
      this.buckets.set(client, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * perSecond);
    bucket.at = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)) };
  }

  get clients(): number {
    return this.buckets.size;
  }

  private makeRoom(nowMs: number): void {
    const max = this.limit.maxClients ?? 10_000;
    if (this.buckets.size < max) return;
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((nowMs - bucket.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(client);
    }
    // Map order is insertion order: the oldest clients go first.
    for (const client of this.buckets.keys()) {
      if (this.buckets.size < max) break;
      this.buckets.delete(client);
    }
  }
}
