import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const SIGN_INS = '{ mySignIns(first: 100) { id sessionId } }';

/** Tenant B (a stranger) never sees tenant A's sign-ins; signing in and out touches only the caller's own session. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const signIns = (await data(a, SIGN_INS)).mySignIns as { id: string }[];
    return { id: signIns[0]?.id ?? '00000000-0000-4000-8000-000000000000' };
  },
  stateOfA: ({ a, data }) => data(a, SIGN_INS),
  root: {
    'Query.mySignIns': async ({ b, data }, { id }) => {
      expect(((await data(b, SIGN_INS)).mySignIns as { id: string }[]).map((signIn) => signIn.id)).not.toContain(id);
    },
    'Mutation.login': async ({ b, data }) => {
      const input = { email: 'nobody@example.com', password: 'not a password' };
      const login = await data(b, 'mutation ($input: LoginInput!) { login(input: $input) { __typename } }', { input });
      expect(login.login.__typename).not.toBe('SignedIn');
    },
    'Mutation.refreshSession': async ({ b, data }) => {
      const refreshed = await data(b, 'mutation { refreshSession(refreshToken: "not-a-token") { __typename } }');
      expect(refreshed.refreshSession.__typename).toBe('InvalidRefreshToken');
    },
    'Mutation.logout': async ({ b, ask }) => {
      expect((await ask(b, 'mutation { logout { sessionId } }')).errors).toBeUndefined();
    },
  },
  entities: { SignIn: { selection: '... on SignIn { id sessionId }', id: ({ id }) => id } },
});
