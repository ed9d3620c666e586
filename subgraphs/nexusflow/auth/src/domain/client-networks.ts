import { isIPv4, isIPv6 } from 'node:net';

/** Hextets of an IPv6 address that name its network: providers hand each customer at least a /64. */
const IPV6_NETWORK_HEXTETS = 4;

/**
 * What per-address limits count by. An IPv6 client controls every address of its /64, so counting
 * single IPv6 addresses would give it 2^64 budgets: it is counted by that /64. IPv4 addresses (also
 * when an IPv6 socket reports them as `::ffff:a.b.c.d`) are counted one by one; anything else as given, lower-cased.
 */
export function clientNetwork(address: string): string {
  const bare = address.trim().toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (!isIPv6(bare)) return bare;
  const network = ipv6Hextets(bare).slice(0, IPV6_NETWORK_HEXTETS);
  return `${network.map((hextet) => hextet.toString(16)).join(':')}::/64`;
}

/** The eight hextets of a valid IPv6 address, with `::` expanded and a trailing dotted IPv4 part as two hextets. */
function ipv6Hextets(address: string): number[] {
  const hextetsOf = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  if (tail === undefined) return hextetsOf(head);
  const leading = hextetsOf(head);
  const trailing = hextetsOf(tail);
  return [...leading, ...new Array<number>(8 - leading.length - trailing.length).fill(0), ...trailing];
}
