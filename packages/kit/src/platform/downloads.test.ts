import { describe, expect, it } from 'vitest';
import { csvCell, DOWNLOAD_LINK_TTL_MS, SignedLinks } from './downloads.ts';

interface Claims {
  tenantId: string;
}
const isClaims = (claims: unknown): claims is Claims => typeof (claims as Partial<Claims>)?.tenantId === 'string';
const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;

describe('signed download links', () => {
  it('carry their claims until they expire, keeping the parameters of the link', () => {
    let now = 1_000;
    const links = new SignedLinks<Claims>('export', 'secret', () => now);
    const link = links.linkTo('https://service.example.com/exports?format=csv', { tenantId: 't-1' });
    expect(new URL(link).searchParams.get('format')).toBe('csv');
    expect(links.read(tokenOf(link), isClaims)).toEqual({ tenantId: 't-1' });
    now += DOWNLOAD_LINK_TTL_MS;
    expect(links.read(tokenOf(link), isClaims)).toBeUndefined();
  });

  it('refuse a token that is forged, malformed, signed for another purpose or with another secret, or of another shape', () => {
    const links = new SignedLinks<Claims>('export', 'secret', () => 0);
    const token = tokenOf(links.linkTo('https://service.example.com/exports', { tenantId: 't-1' }));
    const [value] = token.split('.');
    const otherTenant = Buffer.from(JSON.stringify({ claims: { tenantId: 't-2' }, expiresAt: 1e15 })).toString('base64url');
    expect(links.read(`${otherTenant}.${token.split('.')[1]}`, isClaims)).toBeUndefined();
    expect(links.read(`${value}`, isClaims)).toBeUndefined();
    expect(links.read(`${token}.more`, isClaims)).toBeUndefined();
    expect(new SignedLinks<Claims>('import', 'secret', () => 0).read(token, isClaims)).toBeUndefined();
    expect(new SignedLinks<Claims>('export', 'other', () => 0).read(token, isClaims)).toBeUndefined();
    expect(links.read(token, (_claims): _claims is Claims => false)).toBeUndefined();
  });
});

describe('CSV cells', () => {
  it('quote what would break a row, write JSON for objects, and never let a spreadsheet run a formula', () => {
    expect([null, undefined, 'plain', 'a,b', 'say "hi"', 'two\nlines'].map(csvCell)).toEqual([
      '',
      '',
      'plain',
      '"a,b"',
      '"say ""hi"""',
      '"two\nlines"',
    ]);
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
    expect(csvCell(new Date('2026-01-01T00:00:00.000Z'))).toBe('2026-01-01T00:00:00.000Z');
    expect(['=1+1', '+1', '-1', '@SUM(A1)'].map(csvCell)).toEqual(["'=1+1", "'+1", "'-1", "'@SUM(A1)"]);
  });
});
