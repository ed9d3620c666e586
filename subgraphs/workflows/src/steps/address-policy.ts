import { BlockList, isIPv4, isIPv6 } from 'node:net';

// Ranges that are not reachable on the public internet (IANA special-purpose registries). A workflow step that could
// reach them could read cloud metadata endpoints or internal services on behalf of whoever edits the workflow.
const NON_PUBLIC_IPV4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network", including the unspecified address
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, where cloud metadata services live
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including the broadcast address
];

const NON_PUBLIC_IPV6: ReadonlyArray<readonly [string, number]> = [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible form
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001:db8::', 32],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];

const ipv4BlockList = new BlockList();
for (const [network, prefix] of NON_PUBLIC_IPV4) ipv4BlockList.addSubnet(network, prefix, 'ipv4');
const ipv6BlockList = new BlockList();
for (const [network, prefix] of NON_PUBLIC_IPV6) ipv6BlockList.addSubnet(network, prefix, 'ipv6');

/**
 * Whether `address` (an IP address as DNS returns it) is publicly routable. IPv6 addresses that carry an IPv4
 * address (IPv4-mapped, NAT64 and 6to4) are judged by that IPv4 address, since that is where traffic ends up.
 * Anything that is not an IP address is not public.
 */
export function isPublicAddress(address: string): boolean {
  if (isIPv4(address)) return !ipv4BlockList.check(address, 'ipv4');
  const withoutZone = address.split('%')[0] ?? '';
  if (!isIPv6(withoutZone)) return false;
  const words = ipv6Words(withoutZone);
  if (!words) return false;
  const embedded = embeddedIpv4(words);
  if (embedded !== null) return isPublicAddress(embedded);
  return !ipv6BlockList.check(withoutZone, 'ipv6');
}

function embeddedIpv4(words: number[]): string | null {
  const [w0, w1, w2, w3, w4, w5, w6, w7] = words as [number, number, number, number, number, number, number, number];
  const isMapped = w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0xffff;
  const isNat64 = w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0;
  if (isMapped || isNat64) return ipv4FromWords(w6, w7);
  if (w0 === 0x2002) return ipv4FromWords(w1, w2); // 6to4
  return null;
}

function ipv4FromWords(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** Expands a valid IPv6 address (possibly compressed, possibly ending in dotted IPv4) into its eight 16-bit words. */
function ipv6Words(address: string): number[] | null {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = tail.split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((word) => Number.parseInt(word, 16)));
  const headWords = parse(head);
  const tailWords = rest === undefined ? [] : parse(rest);
  const missing = 8 - headWords.length - tailWords.length;
  if (missing < 0 || (rest === undefined && missing !== 0)) return null;
  return [...headWords, ...new Array<number>(missing).fill(0), ...tailWords];
}
