import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Environment } from '../platform/config.ts';
import type { EntityManager } from '../storage/database.ts';
import { Role, signIdentity, type Identity } from '../platform/identity.ts';
import { STATEMENTS_HEADER, type RunningSubgraph } from '../runtime/subgraph.ts';
import { systemFork } from '../storage/tenant-scope.ts';
import { createTempDirectory, createTestDatabase } from './databases.ts';
import { testEnvironment } from './environment.ts';
import { postGraphQL } from './graphql-client.ts';
import { storageModes } from './storage-modes.ts';

export interface EntityContractCase {
  /** Fields asked of each reference, inside `... on <Type> { }`; `id` is always asked. */
  selection: string;
  /** Stores `count` entities of `tenantId` through the service's own entities (flushed by the caller) and returns their ids. */
  create(em: EntityManager, tenantId: string, count: number): string[] | Promise<string[]>;
}

export interface EntityContractOptions {
  /** Starts the subgraph from an environment (port, storage, log level are set). */
  start(env: Environment): Promise<RunningSubgraph<unknown>>;
  /** Variables the subgraph needs beyond storage, e.g. to keep its background work still. */
  env?: Environment;
  /** One case per type with a resolvable `@key`, by type name. */
  entities: Record<string, EntityContractCase>;
}

const SIZES = [1, 10, 100];

/**
 * The federation contract of a subgraph's `@key`s, on PGlite and on the real PostgreSQL (always under CI): references
 * resolve in order, in a number of SQL statements that does not grow with their number (every `__resolveReference`
 * goes through a DataLoader), and a reference of another tenant or with a malformed id resolves to null, without error.
 */
export function describeEntityContract(serviceName: string, options: EntityContractOptions): void {
  describe.each(storageModes(['postgres']))(`${serviceName} _entities contract on $storage`, ({ mode }) => {
    let subgraph: RunningSubgraph<unknown>;
    const cleanups: (() => Promise<void>)[] = [];
    const tenantId = randomUUID();
    const ids = new Map<string, string[]>();
    const owner: Identity = { kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Owner] };

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`${serviceName}-contract-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', ...options.env };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, `${serviceName}_contract`);
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await options.start(env);
      cleanups.push(() => subgraph.close());
      const em = systemFork(subgraph.database);
      for (const [typename, entityCase] of Object.entries(options.entities)) {
        ids.set(typename, await entityCase.create(em, tenantId, Math.max(...SIZES)));
      }
      await em.flush();
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function resolve(typename: string, references: string[], identity: Identity) {
      const response = await postGraphQL<{ _entities: ({ id: string } | null)[] }>(
        subgraph.graphqlUrl,
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on ${typename} { id ${options.entities[typename]!.selection} } } }`,
        {
          variables: { representations: references.map((id) => ({ __typename: typename, id })) },
          headers: signIdentity(identity, subgraph.config.internalSecret),
        },
      );
      expect(response.errors).toBeUndefined();
      return { entities: response.data!._entities, statements: Number(response.headers.get(STATEMENTS_HEADER)) };
    }

    it.each(Object.keys(options.entities))(
      'resolves 1, 10 and 100 %s references in order, in as many statements for 100 as for 1',
      async (typename) => {
        const statements: number[] = [];
        for (const size of SIZES) {
          const wanted = ids.get(typename)!.slice(0, size);
          const resolved = await resolve(typename, wanted, owner);
          expect(resolved.entities.map((entity) => entity?.id)).toEqual(wanted);
          statements.push(resolved.statements);
        }
        expect(statements[0]).toBeGreaterThan(0);
        expect(new Set(statements).size, `statements for ${SIZES.join(', ')} references: ${statements.join(', ')}`).toBe(1);
      },
    );

    it.each(Object.keys(options.entities))(
      'resolves %s references of another tenant and ids that are not UUIDs to null, without an error',
      async (typename) => {
        const stranger: Identity = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
        const { entities } = await resolve(typename, [ids.get(typename)![0]!, 'not-a-uuid'], stranger);
        expect(entities).toEqual([null, null]);
      },
    );
  });
}
