/**
 * The external authentication hook: before a publish (RTMP, SRT, WHIP) or a view
 * (WHEP) is let in, the server POSTs what it knows of the client to an
 * operator's URL, as MediaMTX's `authHTTPAddress` does, and the answer
 * decides: any 2xx lets the client in, anything else keeps it out.
 *
 * It fails closed: a hook that cannot be reached, times out or answers 5xx
 * refuses the client (503, so it may retry), because an outage of the auth
 * service must not open every stream.
 *
 * The body carries the client's secret (the hook is where it is checked);
 * nothing here logs it.
 */

export interface AuthQuery {
  /** `publish` (RTMP, SRT, WHIP) or `read` (WHEP). */
  action: 'publish' | 'read';
  protocol: 'rtmp' | 'srt' | 'whip' | 'whep';
  /** The stream key. */
  key: string;
  /** What the client presented: the WHIP/WHEP bearer token or the RTMP (or SRT streamid's) `?key=` secret. */
  token?: string;
  /** The client's address. */
  ip?: string;
  /** WHEP: `original` when the client asks for the publisher's video rather than the upconverted stream. */
  variant?: 'original';
}

export type AuthVerdict = { allowed: true } | { allowed: false; status: 403 | 503; reason: string };

export interface AuthHookOptions {
  url: string;
  /** How long the hook may take to answer (default 2000 ms); after that the client is refused. */
  timeoutMs?: number;
  /** Where failures to reach the hook are reported (never the query itself). */
  warn?: (message: string) => void;
}

export class AuthHook {
  private readonly timeoutMs: number;

  constructor(private readonly options: AuthHookOptions) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Asks the hook about one client. Never throws. */
  async check(query: AuthQuery): Promise<AuthVerdict> {
    let status: number;
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(query),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      status = response.status;
      // The body is not used; reading it lets the connection be reused.
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      const why = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : describe(error);
      this.options.warn?.(`auth hook ${this.options.url}: ${why}`);
      return { allowed: false, status: 503, reason: 'the authentication service is unavailable: try again later' };
    }
    if (status >= 200 && status < 300) return { allowed: true };
    if (status >= 500) {
      this.options.warn?.(`auth hook ${this.options.url} answered ${status}`);
      return { allowed: false, status: 503, reason: 'the authentication service is unavailable: try again later' };
    }
    return { allowed: false, status: 403, reason: 'refused by the authentication service' };
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch's "fetch failed" hides the useful part in `cause` (ECONNREFUSED and the like).
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
