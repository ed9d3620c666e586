import type { IncomingMessage } from 'node:http';

/** `::ffff:203.0.113.7` and `203.0.113.7` are one client. */
function canonical(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('::ffff:') && trimmed.includes('.') ? trimmed.slice('::ffff:'.length) : trimmed;
}

/**
 * The client's address with `trustedProxyHops` proxies of our own in front of the gateway. Each proxy appends the
 * address it received the request from to X-Forwarded-For, so only the last `trustedProxyHops` entries were written
 * by proxies we trust; everything left of them is whatever the client chose to send. With 0 hops the header is
 * ignored and the socket's peer is the client.
 */
export function clientAddress(req: IncomingMessage, trustedProxyHops: number): string {
  const peer = canonical(req.socket.remoteAddress ?? 'unknown');
  if (trustedProxyHops === 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const chain = [...forwarded, peer];
  return canonical(chain[Math.max(0, chain.length - 1 - trustedProxyHops)]!);
}
