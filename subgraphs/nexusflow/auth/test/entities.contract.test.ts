import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIdentity, STATEMENTS_HEADER, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import type { AuthServices } from '../src/context.ts';
import { subgraph as auth } from '../src/subgraph.ts';
import { seedTenant, type SeededTenant } from './seeders/tenant-with-members.seeder.ts';

const ENTITIES = `query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on User { id email tenant { id name } }
    ... on Tenant { id name users { id } }
  }
}`;

type Entity = { id: string; email?: string; tenant?: { id: string }; users?: { id: string }[] } | null;

/**
 * The federation contract of every `@key` in the auth subgraph: `_entities` resolves references in
 * batches, so the SQL it costs does not grow with the number of representations.
 */
describe('auth _entities contract', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let subgraph: RunningSubgraph<AuthServices>;
    let acme: SeededTenant;
    let globex: SeededTenant;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`auth-contract-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent' };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'auth_contract');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await auth.start(env);
      cleanups.push(() => subgraph.close());
      const em = systemFork(subgraph.database);
      acme = await seedTenant(em, 'Acme', 100);
      globex = await seedTenant(em, 'Globex', 2);
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const memberOf = (seeded: SeededTenant): Identity => ({
      kind: 'user',
      userId: seeded.members[0]!.id,
      tenantId: seeded.tenant.id,
      roles: [seeded.memberships[0]!.role],
    });

    async function resolveEntities(representations: { __typename: string; id: string }[], identity: Identity) {
      const response = await postGraphQL<{ _entities: Entity[] }>(subgraph.graphqlUrl, ENTITIES, {
        variables: { representations },
        headers: signIdentity(identity, subgraph.config.internalSecret),
      });
      expect(response.errors).toBeUndefined();
      return { entities: response.data!._entities, statements: Number(response.headers.get(STATEMENTS_HEADER)) };
    }

    const users = (seeded: SeededTenant, count: number) => seeded.members.slice(0, count).map(({ id }) => ({ __typename: 'User', id }));

    it('resolves a batch of User references in order, with one statement for users and one for their tenants', async () => {
      const { entities, statements } = await resolveEntities(users(acme, 100), memberOf(acme));
      expect(entities.map((entity) => entity?.id)).toEqual(acme.members.map(({ id }) => id));
      expect(entities.every((entity) => entity?.tenant?.id === acme.tenant.id)).toBe(true);
      expect(statements).toBe(2);
    });

    it('costs the same number of statements for 1, 10 and 100 User references', async () => {
      const counts = [];
      for (const size of [1, 10, 100]) counts.push((await resolveEntities(users(acme, size), memberOf(acme))).statements);
      expect(counts).toEqual([2, 2, 2]);
    });

    it('resolves a batch of Tenant references with one statement, and their members with one more', async () => {
      const representations = [acme, globex].map(({ tenant }) => ({ __typename: 'Tenant', id: tenant.id }));
      const { entities, statements } = await resolveEntities(representations, memberOf(acme));
      expect(entities[0]).toMatchObject({ id: acme.tenant.id, name: 'Acme' });
      expect(entities[0]?.users).toHaveLength(100);
      expect(statements).toBe(2);
    });

    it('answers null for references the caller may not see, without failing the batch', async () => {
      const representations = [...users(acme, 1), ...users(globex, 1), { __typename: 'User', id: crypto.randomUUID() }];
      const { entities } = await resolveEntities(representations, memberOf(globex));
      expect(entities.map((entity) => entity?.id ?? null)).toEqual([null, globex.members[0]!.id, null]);
      const asAnonymous = await resolveEntities(users(acme, 3), { kind: 'anonymous' });
      expect(asAnonymous.entities).toEqual([null, null, null]);
    });
  });
});
