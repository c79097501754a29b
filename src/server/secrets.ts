import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether a client's secret (bearer token, RTMP key) matches the expected
 * one, in time that does not depend on where they differ or on their
 * lengths: both are hashed first, so `timingSafeEqual` always compares 32
 * bytes. A missing secret never matches.
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}
