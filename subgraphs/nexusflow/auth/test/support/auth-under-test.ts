import { expect } from 'vitest';
import { signIdentity, verifyAccessToken, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import {
  createTempDirectory,
  createTestDatabase,
  postGraphQL,
  testEnvironment,
  type GraphQLResponse,
  type StorageMode,
} from '@nexusflow/kit/testing';
import type { AuthConfig } from '../../src/config.ts';
import type { AuthServices } from '../../src/context.ts';
import { subgraph as auth } from '../../src/subgraph.ts';

export type SignedInIdentity = Extract<Identity, { kind: 'user' }>;

/** Where a request comes from, as the gateway signs it into the identity it forwards. */
export interface ClientOrigin {
  address: string;
  userAgent: string;
}

/** The auth subgraph of one test file, asked as the gateway would ask it, on a clock the test moves. */
export interface AuthUnderTest {
  subgraph: RunningSubgraph<AuthServices>;
  config: AuthConfig;
  /** The whole response of `query` sent as `identity`, errors included. */
  ask(
    identity: Identity,
    query: string,
    variables?: Record<string, unknown>,
    client?: ClientOrigin,
  ): Promise<GraphQLResponse<Record<string, any>>>;
  /** The data of `query` sent as `identity`; fails the test on any error. */
  answer(identity: Identity, query: string, variables?: Record<string, unknown>, client?: ClientOrigin): Promise<Record<string, any>>;
  /** The identity the gateway would derive from an access token the subgraph issued. */
  identityOf(accessToken: string): Promise<SignedInIdentity>;
  close(): Promise<void>;
}

/**
 * Starts the auth subgraph for a test file: in the embedded mode on PGlite in a scratch folder, in the postgres mode on
 * a database of its own on the real server. `env` comes on top of quiet defaults (no registration limit, since every
 * test registers from one address).
 */
export async function startAuthUnderTest(
  mode: StorageMode,
  label: string,
  env: Environment = {},
  /** Milliseconds since the epoch, for the subgraph (tokens, expiries, throttles) and the identities signed here; unset: real time. */
  clock?: { now: number },
): Promise<AuthUnderTest> {
  const now = () => clock?.now ?? Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const dataDir = await createTempDirectory(`auth-${label}-${mode}`);
    cleanups.push(dataDir.remove);
    const fullEnv: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', REGISTRATIONS_PER_ADDRESS: '0', ...env };
    if (mode === 'postgres') {
      const database = await createTestDatabase(testEnvironment.postgresUrl!, `auth_${label.replace(/\W/g, '_')}`);
      cleanups.push(database.drop);
      fullEnv.DATABASE_URL = database.url;
    }
    const config = auth.config(fullEnv);
    const subgraph = await auth.start(fullEnv, { now, clock: now });
    cleanups.push(() => subgraph.close());

    const ask: AuthUnderTest['ask'] = (identity, query, variables = {}, client) =>
      postGraphQL<Record<string, any>>(subgraph.graphqlUrl, query, {
        variables,
        headers: signIdentity(identity, subgraph.config.internalSecret, now(), client?.address, client?.userAgent),
      });
    return {
      subgraph,
      config,
      ask,
      async answer(identity, query, variables, client) {
        const response = await ask(identity, query, variables, client);
        expect(response.errors, query).toBeUndefined();
        return response.data!;
      },
      async identityOf(accessToken) {
        const verified = await verifyAccessToken(accessToken, config.jwtSecret, now());
        if (!verified.ok || verified.identity.kind !== 'user') throw new Error('the access token does not verify');
        return verified.identity;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
