import { describe, expect, it } from 'vitest';
import { isUuid, requireUuid } from './ids.ts';

describe('requireUuid', () => {
  it('returns a UUID as it was given, in either case', () => {
    const id = crypto.randomUUID();
    expect(requireUuid(id, 'id')).toBe(id);
    expect(requireUuid(id.toUpperCase(), 'id')).toBe(id.toUpperCase());
  });

  it('lets an absent optional id through', () => {
    expect(requireUuid(null, 'workflowId')).toBeNull();
    expect(requireUuid(undefined, 'workflowId')).toBeUndefined();
  });

  it.each(['', 'x', 'not-a-uuid', `${crypto.randomUUID()} `, `${crypto.randomUUID()}0`, "1' or '1'='1"])(
    'refuses %j with BAD_USER_INPUT naming the field',
    (value) => {
      expect(() => requireUuid(value, 'workflowId')).toThrow(
        expect.objectContaining({ message: '"workflowId" must be a UUID', extensions: { code: 'BAD_USER_INPUT', field: 'workflowId' } }),
      );
    },
  );
});

describe('isUuid', () => {
  it('accepts the canonical form only', () => {
    expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
    expect(isUuid('0000000000000000000000000000000')).toBe(false);
    expect(isUuid('{00000000-0000-0000-0000-000000000000}')).toBe(false);
  });
});
