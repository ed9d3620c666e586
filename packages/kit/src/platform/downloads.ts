import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

/** How long a download link works: long enough to click it, short enough that a leaked one soon stops working. */
export const DOWNLOAD_LINK_TTL_MS = 15 * 60_000;

/**
 * Links to a download served by a subgraph's own route (a download is no GraphQL, so the gateway does not proxy it):
 * the link carries what it downloads and when it expires, signed with the internal secret under a purpose of its own,
 * and nothing else authenticates it.
 */
export class SignedLinks<Claims extends object> {
  constructor(
    private readonly purpose: string,
    private readonly secret: string,
    private readonly now: () => number,
    private readonly ttlMs: number = DOWNLOAD_LINK_TTL_MS,
  ) {}

  /** `url` with a `token` parameter carrying the claims and their expiry. */
  linkTo(url: string, claims: Claims): string {
    const value = Buffer.from(JSON.stringify({ claims, expiresAt: this.now() + this.ttlMs })).toString('base64url');
    const link = new URL(url);
    link.searchParams.set('token', `${value}.${this.sign(value)}`);
    return link.toString();
  }

  /**
   * The claims of a link's token, or undefined when it is forged, malformed, signed for another purpose or expired.
   * `accept` checks the shape of what was signed, in case an older version signed something else.
   */
  read(token: string, accept: (claims: unknown) => claims is Claims): Claims | undefined {
    const [value, signature, ...rest] = token.split('.');
    if (!value || !signature || rest.length > 0) return undefined;
    const expected = Buffer.from(this.sign(value));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const { claims, expiresAt } = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { claims: unknown; expiresAt: number };
      return typeof expiresAt === 'number' && expiresAt > this.now() && accept(claims) ? claims : undefined;
    } catch {
      return undefined;
    }
  }

  private sign(value: string): string {
    return createHmac('sha256', this.secret).update(`${this.purpose}:${value}`).digest('base64url');
  }
}

/** RFC 4180 quoting; a leading = + - @ is prefixed with ' so that a spreadsheet never runs a cell as a formula. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Writes a chunk of a streamed response, waiting while the client is slower than the database. */
export async function writeChunk(res: ServerResponse, chunk: string): Promise<void> {
  if (!res.write(chunk)) await once(res, 'drain');
}
