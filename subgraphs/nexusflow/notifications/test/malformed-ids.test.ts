import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, STATEMENTS_HEADER, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { NotificationServices } from '../src/context.ts';
import { subgraph as notifications } from '../src/subgraph.ts';

const MALFORMED = 'x';

/** Ids are UUIDs: anything else is the client's mistake, answered before it can reach PostgreSQL or the auth subgraph. */
describe('the notifications subgraph, given ids that are not UUIDs', () => {
  let under: SubgraphUnderTest<NotificationServices>;
  const caller: Identity = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] };

  beforeAll(async () => {
    // No auth subgraph listens there: a recipient that reached it would be answered SERVICE_UNAVAILABLE.
    under = await startSubgraphUnderTest('notifications-malformed-ids', (environment) => notifications.start(environment), {
      RUN_WORKER: 'false',
      AUTH_URL: 'http://127.0.0.1:9/graphql',
    });
  });

  afterAll(async () => {
    await under?.close();
  });

  const ask = <T>(query: string, variables: Record<string, unknown>) => under.ask<T>(caller, query, variables);

  it.each([
    {
      operation: 'markNotificationRead(id)',
      query: 'mutation ($id: ID!) { markNotificationRead(id: $id) { id } }',
      variables: { id: MALFORMED },
      field: 'id',
    },
    {
      operation: 'sendNotification(input: { userId })',
      query: 'mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { id } }',
      variables: { input: { userId: MALFORMED, eventType: 'release.published' } },
      field: 'userId',
    },
  ])(
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

  it('resolves Notification and User references with malformed ids to null, without an error', async () => {
    const response = await ask<{ _entities: unknown[] }>(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) { ... on Notification { id title } ... on User { unreadNotificationCount notifications { id } } }
      }`,
      {
        representations: [
          { __typename: 'Notification', id: MALFORMED },
          { __typename: 'User', id: MALFORMED },
        ],
      },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?._entities).toEqual([null, null]);
    expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
    expect(under.loggedErrors).toEqual([]);
  });
});
