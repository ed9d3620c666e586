import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, STATEMENTS_HEADER, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { AuthServices } from '../src/context.ts';
import { subgraph as auth } from '../src/subgraph.ts';

const MALFORMED = 'x';

/** Ids are UUIDs: anything else is the client's mistake, answered before it can reach PostgreSQL as a bad uuid parameter. */
describe('the auth subgraph, given ids that are not UUIDs', () => {
  let under: SubgraphUnderTest<AuthServices>;
  const caller: Identity = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] };

  beforeAll(async () => {
    under = await startSubgraphUnderTest('auth-malformed-ids', (environment) => auth.start(environment), {});
  });

  afterAll(async () => {
    await under?.close();
  });

  const ask = <T>(query: string, variables: Record<string, unknown>) => under.ask<T>(caller, query, variables);

  it.each([{ operation: 'user(id)', query: 'query ($id: ID!) { user(id: $id) { id } }', variables: { id: MALFORMED }, field: 'id' }])(
    'answers $operation with BAD_USER_INPUT naming "$field", without a statement reaching PostgreSQL',
    async ({ query, variables, field }) => {
      const response = await ask(query, variables);
      expect(response.errors).toEqual([
        expect.objectContaining({ message: `"${field}" must be a UUID`, extensions: { code: 'BAD_USER_INPUT', field } }),
      ]);
      expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
      expect(under.loggedErrors).toEqual([]);
    },
  );

  it('resolves User and Tenant references with malformed ids to null, without an error', async () => {
    const response = await ask<{ _entities: unknown[] }>(
      `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { id email } ... on Tenant { id users { id } } } }`,
      {
        representations: [
          { __typename: 'User', id: MALFORMED },
          { __typename: 'Tenant', id: MALFORMED },
        ],
      },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?._entities).toEqual([null, null]);
    expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
    expect(under.loggedErrors).toEqual([]);
  });
});
