import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const MINE = '{ mySessions { id } }';

/**
 * Tenant B (a stranger) never sees, nor ends, tenant A's sessions. Sessions are made by signing in (auth-service), so
 * tenant A's is the one it acts with.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const sessions = (await data(a, MINE)).mySessions as { id: string }[];
    return { id: sessions[0]?.id ?? '00000000-0000-4000-8000-000000000000' };
  },
  stateOfA: ({ a, data }) => data(a, MINE),
  root: {
    'Query.mySessions': async ({ a, b, data }) => {
      const mine = (await data(b, MINE)).mySessions as { id: string }[];
      const theirs = (await data(a, MINE)).mySessions as { id: string }[];
      expect(mine.filter((session) => theirs.some((other) => other.id === session.id))).toEqual([]);
    },
    'Mutation.revokeSession': async ({ b, data }, { id }) => {
      const revoked = await data(b, 'mutation ($id: ID!) { revokeSession(id: $id) { __typename ... on SessionNotFound { id } } }', { id });
      expect(revoked.revokeSession).toEqual({ __typename: 'SessionNotFound', id });
    },
    'Mutation.revokeAllSessions': async ({ a, b, data }) => {
      const revoked = await data(b, 'mutation ($userId: ID) { revokeAllSessions(userId: $userId) { count } }', { userId: a.userId });
      expect(revoked.revokeAllSessions).toEqual({ count: 0 });
    },
  },
  entities: { Session: { selection: '... on Session { id userId }', id: ({ id }) => id } },
});
