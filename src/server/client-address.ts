import { isIP } from 'node:net';

/**
 * The address a request comes from, for the rate limit and the auth hook.
 *
 * Behind a reverse proxy or load balancer every request comes from the
 * proxy's address, so one busy client would use up everyone's requests.
 * When the socket's peer is one of `trustedProxies`, the client is the
 * rightmost address in `X-Forwarded-For` that is not itself a trusted proxy
 * (each proxy appends the address it heard from; anything left of the
 * trusted ones could have been written by the client itself). From any
 * other peer the header is ignored: a client cannot choose its own address.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trustedProxies: ReadonlySet<string>): string {
  const socketAddress = plain(peer ?? 'unknown');
  if (trustedProxies.size === 0 || !trustedProxies.has(socketAddress) || forwardedFor === undefined) return socketAddress;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((hop) => plain(hop.trim()))
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return socketAddress; // not an address: the header cannot be trusted from here on
    if (!trustedProxies.has(hop)) return hop;
  }
  return socketAddress;
}

/** The set of trusted proxy addresses, as `clientAddress` compares them. */
export function proxySet(addresses: readonly string[] | undefined): ReadonlySet<string> {
  return new Set((addresses ?? []).map((address) => plain(address.trim())).filter((address) => address !== ''));
}

/** An IPv4 address as itself, not as Node reports it on a dual-stack socket (`::ffff:10.0.0.1`). */
function plain(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
