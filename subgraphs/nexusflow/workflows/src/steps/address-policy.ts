import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * What kind of non-public range an address falls in, worded to complete "… addresses are blocked". `unrecognised` is
 * for text that is not an IP address at all.
 */
export type NonPublicRange =
  | 'loopback'
  | 'private network'
  | 'link-local'
  | 'unspecified'
  | 'shared (carrier-grade NAT)'
  | 'documentation'
  | 'benchmarking'
  | 'multicast'
  | 'reserved'
  | 'unrecognised';

// Ranges that are not reachable on the public internet (IANA special-purpose registries). A workflow step that could
// reach them could read cloud metadata endpoints or internal services on behalf of whoever edits the workflow.
// The first range an address falls in names it, so narrower ranges come before the wider ones that contain them.
const NON_PUBLIC_IPV4: ReadonlyArray<readonly [string, number, NonPublicRange]> = [
  ['0.0.0.0', 8, 'unspecified'], // "this network", including the unspecified address
  ['10.0.0.0', 8, 'private network'],
  ['100.64.0.0', 10, 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // where cloud metadata services live
  ['172.16.0.0', 12, 'private network'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private network'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // including the broadcast address
];

const NON_PUBLIC_IPV6: ReadonlyArray<readonly [string, number, NonPublicRange]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'reserved'], // the deprecated IPv4-compatible form
  ['64:ff9b:1::', 48, 'private network'], // local-use NAT64
  ['100::', 64, 'reserved'], // discard
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'private network'], // unique local
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private network'], // deprecated site-local
  ['ff00::', 8, 'multicast'],
];

function rangeMatchers(ranges: ReadonlyArray<readonly [string, number, NonPublicRange]>, family: 'ipv4' | 'ipv6') {
  return ranges.map(([network, prefix, range]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return { list, range };
  });
}

const ipv4Ranges = rangeMatchers(NON_PUBLIC_IPV4, 'ipv4');
const ipv6Ranges = rangeMatchers(NON_PUBLIC_IPV6, 'ipv6');

/**
 * The non-public range `address` (an IP address as DNS returns it) falls in, or null when it is publicly routable.
 * IPv6 addresses that carry an IPv4 address (IPv4-mapped, NAT64 and 6to4) are judged by that IPv4 address, since that
 * is where traffic ends up. Anything that is not an IP address is `unrecognised`.
 */
export function nonPublicRangeOf(address: string): NonPublicRange | null {
  if (isIPv4(address)) return ipv4Ranges.find(({ list }) => list.check(address, 'ipv4'))?.range ?? null;
  const withoutZone = address.split('%')[0] ?? '';
  if (!isIPv6(withoutZone)) return 'unrecognised';
  const words = ipv6Words(withoutZone);
  if (!words) return 'unrecognised';
  const embedded = embeddedIpv4(words);
  if (embedded !== null) return nonPublicRangeOf(embedded);
  return ipv6Ranges.find(({ list }) => list.check(withoutZone, 'ipv6'))?.range ?? null;
}

/** Whether `address` (an IP address as DNS returns it) is publicly routable; see {@link nonPublicRangeOf}. */
export function isPublicAddress(address: string): boolean {
  return nonPublicRangeOf(address) === null;
}

/**
 * What can be known about a URL's host without asking DNS: the range of an IP literal (with or without IPv6 brackets)
 * or of a name that is loopback by definition (`localhost` and `*.localhost`, RFC 6761), null when the host is public
 * or when only DNS can tell. A name that resolves to a private address is caught when the step runs, since what DNS
 * says when a workflow is saved proves nothing about what it says when the workflow runs.
 */
export function nonPublicRangeOfHost(hostname: string): NonPublicRange | null {
  const host = hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
  if (isIP(host.split('%')[0] ?? '') !== 0) return nonPublicRangeOf(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  return null;
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
