import { randomUUID } from 'node:crypto';
import { signIdentity, systemFork, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import {
  createTempDirectory,
  createTestDatabase,
  postGraphQL,
  testEnvironment,
  type GraphQLResponse,
  type StorageMode,
} from '@nexusflow/kit/testing';
import type { IntegrationsServices } from '../../src/context.ts';
import { subgraph as integrations } from '../../src/subgraph.ts';

export type Caller = Extract<Identity, { kind: 'user' }>;

/** The integrations subgraph of one test file, asked as the gateway would ask it, on a clock the test moves. */
export interface IntegrationsUnderTest {
  readonly subgraph: RunningSubgraph<IntegrationsServices>;
  ask(identity: Identity, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<Record<string, any>>>;
  /** The data of `query` sent as `identity`; fails on any error. */
  answer(identity: Identity, query: string, variables?: Record<string, unknown>): Promise<Record<string, any>>;
  /** Rows as stored, by SQL: what a copy of the database would show. */
  rows(sql: string, parameters?: unknown[]): Promise<Record<string, any>[]>;
  /** Stops the subgraph and starts it again on the same storage, with `env` on top of what it started with. */
  restart(env?: Environment): Promise<void>;
  /** Another instance of the subgraph on the same database (postgres mode), closed with this one. */
  startTwin(): Promise<RunningSubgraph<IntegrationsServices>>;
  close(): Promise<void>;
}

/**
 * Starts the integrations subgraph for a test file: in the embedded mode on PGlite in a scratch folder, in the postgres
 * mode on a database of its own on the real server.
 */
export async function startIntegrationsUnderTest(
  mode: StorageMode,
  label: string,
  env: Environment,
  /** Milliseconds since the epoch for the subgraph's expiries and the identities signed here; unset: real time. */
  clock?: { now: number },
): Promise<IntegrationsUnderTest> {
  const now = () => clock?.now ?? Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const dataDir = await createTempDirectory(`integrations-${label}-${mode}`);
  cleanups.push(dataDir.remove);
  let baseEnv: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', ...env };
  if (mode === 'postgres') {
    const database = await createTestDatabase(testEnvironment.postgresUrl!, `integrations_${label.replace(/\W/g, '_')}`);
    cleanups.push(database.drop);
    baseEnv.DATABASE_URL = database.url;
  }
  let subgraph = await integrations.start(baseEnv, { now, clock: now });

  const ask: IntegrationsUnderTest['ask'] = (identity, query, variables = {}) =>
    postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
      variables,
      headers: signIdentity(identity, subgraph.config.internalSecret, now()),
    });
  return {
    get subgraph() {
      return subgraph;
    },
    ask,
    async answer(identity, query, variables) {
      const response = await ask(identity, query, variables);
      if (response.errors) throw new Error(`${query}: ${JSON.stringify(response.errors)}`);
      return response.data!;
    },
    rows: (sql, parameters = []) => systemFork(subgraph.database).getConnection().execute(sql, parameters),
    async startTwin() {
      if (mode !== 'postgres') throw new Error('a second instance shares a real PostgreSQL only');
      const twin = await integrations.start(baseEnv, { now, clock: now });
      cleanups.push(() => twin.close());
      return twin;
    },
    async restart(extra = {}) {
      await subgraph.close();
      baseEnv = { ...baseEnv, ...extra };
      subgraph = await integrations.start(baseEnv, { now, clock: now });
    },
    async close() {
      await subgraph.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

/** A signed-in member of `tenantId` with `roles`. */
export const callerOf = (tenantId: string, roles: Caller['roles']): Caller => ({ kind: 'user', userId: randomUUID(), tenantId, roles });
