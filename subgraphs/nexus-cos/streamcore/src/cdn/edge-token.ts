import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CDN URL tokens in the format of Akamai's Edge Authorization Token 2.0 (EdgeAuth): `ip=…~st=…~exp=…~acl=…~id=…~hmac=…`,
 * the HMAC-SHA256, in hex, of the fields before it joined with `~`, under a key given in hex. An ACL ending in `*` covers
 * every path under it, so one token opens a manifest and every playlist and segment it names. Akamai edges check it as
 * the "Auth Token 2.0 Verification" behaviour does; our own edge (./edge.ts) checks it the same way.
 */
export interface EdgeTokenClaims {
  /** The path the token opens: exact, or a prefix ending in `*`. */
  acl: string;
  /** Seconds since the epoch: not valid before. */
  startsAt: number;
  /** Seconds since the epoch: not valid from then on. */
  expiresAt: number;
  /** Valid only for requests from this address, when set. */
  ip?: string | undefined;
  /** What the token is for (a playback session id), for the edge's logs. */
  id?: string | undefined;
}

export type EdgeTokenRefusal = 'malformed' | 'bad-signature' | 'not-yet-valid' | 'expired' | 'wrong-path' | 'wrong-address';

/** The fields in EdgeAuth's order, without the hmac. */
function fieldsOf(claims: EdgeTokenClaims): string[] {
  return [
    ...(claims.ip ? [`ip=${claims.ip}`] : []),
    `st=${claims.startsAt}`,
    `exp=${claims.expiresAt}`,
    `acl=${claims.acl}`,
    ...(claims.id ? [`id=${claims.id}`] : []),
  ];
}

function hmacOf(fields: string[], keyHex: string): string {
  return createHmac('sha256', Buffer.from(keyHex, 'hex')).update(fields.join('~')).digest('hex');
}

export function signEdgeToken(claims: EdgeTokenClaims, keyHex: string): string {
  const fields = fieldsOf(claims);
  return [...fields, `hmac=${hmacOf(fields, keyHex)}`].join('~');
}

/** Addresses as sockets report them: IPv4 clients of a dual-stack server appear as `::ffff:a.b.c.d`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function aclCovers(acl: string, path: string): boolean {
  return acl.split('!').some((entry) => (entry.endsWith('*') ? path.startsWith(entry.slice(0, -1)) : path === entry));
}

/**
 * Checks a token for a request of `path` from `clientAddress` at `nowSeconds`: its signature first (nothing of an
 * unsigned token is trusted), then its time range, its ACL and its address.
 */
export function verifyEdgeToken(
  token: string,
  request: { path: string; clientAddress: string; nowSeconds: number },
  keyHex: string,
): { ok: true; claims: EdgeTokenClaims } | { ok: false; reason: EdgeTokenRefusal } {
  const fields = token.split('~');
  const last = fields.pop();
  if (!last?.startsWith('hmac=') || fields.length === 0) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(last.slice('hmac='.length), 'hex');
  const expected = Buffer.from(hmacOf(fields, keyHex), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' };
  const values = new Map(
    fields.map((field) => {
      const equals = field.indexOf('=');
      return [field.slice(0, equals), field.slice(equals + 1)] as const;
    }),
  );
  const acl = values.get('acl');
  const expiresAt = Number(values.get('exp'));
  const startsAt = values.has('st') ? Number(values.get('st')) : 0;
  if (!acl || !Number.isInteger(expiresAt) || !Number.isInteger(startsAt)) return { ok: false, reason: 'malformed' };
  if (request.nowSeconds < startsAt) return { ok: false, reason: 'not-yet-valid' };
  if (request.nowSeconds >= expiresAt) return { ok: false, reason: 'expired' };
  if (!aclCovers(acl, request.path)) return { ok: false, reason: 'wrong-path' };
  const ip = values.get('ip');
  if (ip && normalizeAddress(request.clientAddress) !== normalizeAddress(ip)) return { ok: false, reason: 'wrong-address' };
  return { ok: true, claims: { acl, startsAt, expiresAt, ip, id: values.get('id') } };
}
