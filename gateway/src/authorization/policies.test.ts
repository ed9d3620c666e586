import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Role, type Identity } from '@nexusflow/kit/core';
import { POLICIES } from './policies.ts';

const person: Identity = { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Owner], sessionId: 'session-1' };

describe('the human policy', () => {
  const human = POLICIES.get('human')!;

  it('allows a person, with or without a session id (tokens signed before sessions existed carry none)', () => {
    expect(human.allows({ identity: person })).toBe(true);
    expect(human.allows({ identity: { kind: 'user', userId: 'user-1', tenantId: 'tenant-1', roles: [Role.Viewer] } })).toBe(true);
  });

  it('refuses an API key, whatever its roles, and an anonymous caller', () => {
    expect(human.allows({ identity: { kind: 'user', userId: 'key-1', tenantId: 'tenant-1', roles: [Role.Member], via: 'api-key' } })).toBe(
      false,
    );
    expect(human.allows({ identity: ANONYMOUS })).toBe(false);
  });
});
