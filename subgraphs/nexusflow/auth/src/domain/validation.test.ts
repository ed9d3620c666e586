import { describe, expect, it } from 'vitest';
import { registrationSchema, slugify } from './validation.ts';

describe('slugify', () => {
  it.each([
    ['Acme Robotics', 'acme-robotics'],
    ['  Café Société  ', 'cafe-societe'],
    ['R&D / Ops!!', 'r-d-ops'],
    ['東京', 'tenant'],
  ])('turns %j into %j', (name, slug) => {
    expect(slugify(name)).toBe(slug);
  });

  it('keeps slugs at most 48 characters long', () => {
    expect(slugify('a'.repeat(100))).toHaveLength(48);
  });
});

describe('registration input', () => {
  it('normalises the email to lower case without surrounding spaces', () => {
    const parsed = registrationSchema.parse({ email: ' Ada@Example.COM ', password: 'long enough!', name: 'Ada', tenantName: 'Acme' });
    expect(parsed.email).toBe('ada@example.com');
  });
});
