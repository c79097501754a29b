import type { ServeOptions, ServerLimits } from '../config/serve-options.js';
import type { Readiness } from './readiness.js';
import { STREAM_KEY } from './routes.js';
import { sameSecret } from './secrets.js';

/**
 * Who may publish and view, as a pure object: each question about a client
 * gets a typed answer, `{ ok: true }` or the HTTP status and the reason the
 * client is told. RTMP has no status codes: its publishers get the reason
 * alone. The external auth hook is asked after these checks (see
 * `AuthHook`); the server asks again about what may have changed while it
 * waited.
 *
 * Secrets are compared in constant time (`sameSecret`) and never appear in
 * a reason.
 */
export type Decision = { ok: true } | { ok: false; status: 401 | 403 | 409 | 503; reason: string };

/** What the policy needs to know of the server now. */
export interface ServerState {
  /** Listening for clients (false before `listen()`). */
  readonly listening: boolean;
  /** Draining or closing: new clients are refused, live streams run on. */
  readonly stopping: boolean;
  /** Keys with a publisher connected now (RTMP, SRT, WHIP, a pull or the test pattern). */
  readonly publishers: number;
  hasPublisher(key: string): boolean;
}

/** The options the policy reads. */
export type AccessRules = Pick<ServeOptions, 'streamKey' | 'openPublishing' | 'token' | 'viewToken' | 'streams'>;

const OK: Decision = { ok: true };
const SHUTTING_DOWN: Decision = { ok: false, status: 503, reason: 'the server is shutting down' };
const WRONG_BEARER: Decision = { ok: false, status: 401, reason: 'missing or wrong bearer token' };
const WRONG_RTMP_KEY: Decision = { ok: false, status: 401, reason: 'missing or wrong key: publish to rtmp://host/live/<key>?key=<secret>' };
const WRONG_SRT_KEY: Decision = { ok: false, status: 401, reason: 'missing or wrong key: publish with streamid=publish:<key>?key=<secret>' };

export class AccessPolicy {
  constructor(
    private readonly rules: AccessRules,
    private readonly limits: Pick<ServerLimits, 'maxStreams' | 'maxViewersPerStream'>,
  ) {}

  /**
   * A publisher, before the auth hook. WHIP's bearer token is checked
   * before anything else is said about the key; RTMP, as it always has,
   * hears about the key first, and SRT as RTMP does.
   */
  publish(protocol: 'rtmp' | 'srt' | 'whip', key: string, secret: string | undefined, state: ServerState): Decision {
    if (!this.accepting(state)) return SHUTTING_DOWN;
    if (protocol === 'whip') return first(this.publishSecret(key, secret, WRONG_BEARER), () => this.publishKey(key, state));
    return first(this.publishKey(key, state), () => this.publishSecret(key, secret, protocol === 'srt' ? WRONG_SRT_KEY : WRONG_RTMP_KEY));
  }

  /** A WHEP viewer, before the auth hook: the key's view token, when it has one. */
  view(key: string, token: string | undefined, state: ServerState): Decision {
    if (!this.accepting(state)) return SHUTTING_DOWN;
    return this.viewSecret(key, token);
  }

  /** After the auth hook answered: the server may have begun shutting down meanwhile. */
  stillAccepting(state: ServerState): Decision {
    return this.accepting(state) ? OK : SHUTTING_DOWN;
  }

  /**
   * Whether `key` may start publishing now, whatever its secret: stream keys
   * become URL path segments, so what could not be served is refused; then
   * the server's key rules (403) and its stream limit (503).
   */
  publishKey(key: string, state: ServerState): Decision {
    if (!STREAM_KEY.test(key)) return { ok: false, status: 403, reason: 'stream keys are letters, digits, _ and -' };
    if (this.rules.streamKey !== undefined && key !== this.rules.streamKey) return { ok: false, status: 403, reason: 'this stream key may not publish here' };
    if (this.rules.openPublishing === false && !this.rules.streams?.[key]) return { ok: false, status: 403, reason: 'this stream key may not publish here' };
    if (state.publishers >= this.limits.maxStreams && !state.hasPublisher(key)) return { ok: false, status: 503, reason: `the server is at its limit of ${this.limits.maxStreams} streams` };
    return OK;
  }

  /** A second publisher on a key that is live gets 409; the one publishing is never disturbed. */
  keyFree(key: string, state: ServerState): Decision {
    return state.hasPublisher(key) ? { ok: false, status: 409, reason: 'this stream key is already live' } : OK;
  }

  /** Whether a stream with `viewers` WHEP viewers takes one more. */
  viewerRoom(viewers: number): Decision {
    return viewers >= this.limits.maxViewersPerStream ? { ok: false, status: 503, reason: `this stream is at its limit of ${this.limits.maxViewersPerStream} viewers` } : OK;
  }

  /** `DELETE` on a WHIP session: the key's publish token, as for the offer. */
  endPublish(key: string, token: string | undefined): Decision {
    return this.publishSecret(key, token, WRONG_BEARER);
  }

  /** `DELETE` on a WHEP session: the key's view token, as for the offer. */
  endView(key: string, token: string | undefined): Decision {
    return this.viewSecret(key, token);
  }

  /**
   * `/readyz`: a load balancer sends new streams only where this is ready.
   * Not while draining, not when full; otherwise as the engine is.
   */
  readiness(state: ServerState, engine: Readiness): Readiness {
    if (state.stopping) return { ready: false, reason: 'draining: the server is shutting down' };
    if (state.publishers >= this.limits.maxStreams) return { ready: false, reason: `full: ${state.publishers} of ${this.limits.maxStreams} streams` };
    return engine;
  }

  private accepting(state: ServerState): boolean {
    return state.listening && !state.stopping;
  }

  /** The key's publish secret, else the server's (constant-time); none needed when neither is set. */
  private publishSecret(key: string, secret: string | undefined, refusal: Decision): Decision {
    const expected = this.rules.streams?.[key]?.token ?? this.rules.token;
    return expected === undefined || sameSecret(secret, expected) ? OK : refusal;
  }

  private viewSecret(key: string, token: string | undefined): Decision {
    const expected = this.rules.streams?.[key]?.viewToken ?? this.rules.viewToken;
    return expected === undefined || sameSecret(token, expected) ? OK : WRONG_BEARER;
  }
}

/** `decision` when it refuses, else what `then` decides. */
function first(decision: Decision, then: () => Decision): Decision {
  return decision.ok ? then() : decision;
}
