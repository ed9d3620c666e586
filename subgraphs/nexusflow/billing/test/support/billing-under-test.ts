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
import type { BillingServices } from '../../src/context.ts';
import { subgraph as billing } from '../../src/subgraph.ts';

export type Caller = Extract<Identity, { kind: 'user' }>;

/** The billing subgraph of one test file, asked as the gateway would ask it, on a clock the test moves. */
export interface BillingUnderTest {
  readonly subgraph: RunningSubgraph<BillingServices>;
  /** Where the subgraph takes Stripe's webhook deliveries. */
  readonly webhookUrl: string;
  ask(identity: Identity, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<Record<string, any>>>;
  /** The data of `query` sent as `identity`; fails on any error. */
  answer(identity: Identity, query: string, variables?: Record<string, unknown>): Promise<Record<string, any>>;
  /** Rows as stored, by SQL: what a copy of the database would show. */
  rows(sql: string, parameters?: unknown[]): Promise<Record<string, any>[]>;
  /** Resolves once every recorded Stripe event is processed and every outbox event published. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the billing subgraph for a test file: in the embedded mode on PGlite in a scratch folder, in the postgres mode
 * on a database of its own on the real server, with RabbitMQ carrying its queue and events.
 */
export async function startBillingUnderTest(
  mode: StorageMode,
  label: string,
  env: Environment,
  /** Milliseconds since the epoch for the subgraph's clock and the identities signed here; unset: real time. */
  clock?: { now: number },
): Promise<BillingUnderTest> {
  const now = () => clock?.now ?? Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const dataDir = await createTempDirectory(`billing-${label}-${mode}`);
  cleanups.push(dataDir.remove);
  const baseEnv: Environment = {
    PORT: '0',
    DATA_DIR: dataDir.path,
    LOG_LEVEL: 'silent',
    AMQP_NAMESPACE: `nf-test-billing-${label}-${randomUUID().slice(0, 8)}`,
    ...env,
  };
  if (mode === 'postgres') {
    const database = await createTestDatabase(testEnvironment.postgresUrl!, `billing_${label.replace(/\W/g, '_')}`);
    cleanups.push(database.drop);
    Object.assign(baseEnv, { DATABASE_URL: database.url, AMQP_URL: testEnvironment.amqpUrl });
  }
  const subgraph = await billing.start(baseEnv, { now, clock: now });
  const ask: BillingUnderTest['ask'] = (identity, query, variables = {}) =>
    postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
      variables,
      headers: signIdentity(identity, subgraph.config.internalSecret, now()),
    });
  const rows: BillingUnderTest['rows'] = (sql, parameters = []) => systemFork(subgraph.database).getConnection().execute(sql, parameters);
  return {
    subgraph,
    webhookUrl: `${subgraph.url}/webhooks/stripe`,
    ask,
    async answer(identity, query, variables) {
      const response = await ask(identity, query, variables);
      if (response.errors) throw new Error(`${query}: ${JSON.stringify(response.errors)}`);
      return response.data!;
    },
    rows,
    async settled() {
      await new Promise<void>((resolve, reject) => {
        const check = async () => {
          const [counts] = await rows(
            `select (select count(*) from stripe_events where processed_at is null)
              + (select count(*) from outbox_events where published_at is null) as pending`,
          );
          if (Number(counts!.pending) === 0) resolve();
          else setTimeout(() => void check().catch(reject), 20);
        };
        void check().catch(reject);
      });
    },
    async close() {
      await subgraph.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}

/** A signed-in member of `tenantId` with `roles`. */
export const callerOf = (tenantId: string, roles: Caller['roles']): Caller => ({ kind: 'user', userId: randomUUID(), tenantId, roles });
