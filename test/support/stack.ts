import { startSubgraph, type RunningSubgraph, type Environment } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, testEnvironment } from '@nexusflow/kit/testing';
import { loadGatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/gateway.ts';
import { loadAuthConfig, type AuthConfig } from '../../subgraphs/auth/src/config.ts';
import type { AuthServices } from '../../subgraphs/auth/src/context.ts';
import { authSubgraph } from '../../subgraphs/auth/src/subgraph.ts';

export type StorageMode = 'embedded' | 'postgres';

export interface Stack {
  gateway: RunningGateway;
  auth: RunningSubgraph<AuthServices>;
  authConfig: AuthConfig;
  /** Starts one more gateway on the same subgraphs, e.g. with other limits. */
  startGateway(env?: Environment): Promise<RunningGateway>;
  close(): Promise<void>;
}

/**
 * The gateway and the auth subgraph, in this process, on free ports, over real HTTP. The embedded mode
 * keeps its PGlite files in a scratch folder; the postgres mode gets a database of its own on the real
 * server (and the real Redis for rate limits), so test files can run in parallel.
 */
export async function startStack(mode: StorageMode, label: string): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const dataDir = await createTempDirectory(label);
  cleanups.push(dataDir.remove);
  const env: Environment = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', NODE_ENV: 'test' };
  if (mode === 'postgres') {
    if (!testEnvironment.postgresUrl || !testEnvironment.redisUrl) throw new Error('postgres mode needs TEST_POSTGRES_URL and TEST_REDIS_URL');
    const database = await createTestDatabase(testEnvironment.postgresUrl, label);
    cleanups.push(database.drop);
    env.DATABASE_URL = database.url;
    env.REDIS_URL = testEnvironment.redisUrl;
  }
  const authConfig = loadAuthConfig(env);
  const auth = await startSubgraph(authSubgraph(authConfig), authConfig.subgraph);
  cleanups.push(auth.close);

  const gateways: RunningGateway[] = [];
  const launchGateway = async (extra: Environment = {}) => {
    // Parallel test files share one Redis and one client address; only the rate-limit test wants a tight budget.
    const gatewayEnv: Environment = { PORT: '0', LOG_LEVEL: 'silent', NODE_ENV: 'test', SUBGRAPH_AUTH_URL: auth.graphqlUrl, RATE_LIMIT_PER_MINUTE: '100000', ...extra };
    if (mode === 'postgres') gatewayEnv.REDIS_URL = testEnvironment.redisUrl;
    const gateway = await startGateway(loadGatewayConfig(gatewayEnv));
    gateways.push(gateway);
    return gateway;
  };
  const gateway = await launchGateway();

  return {
    gateway,
    auth,
    authConfig,
    startGateway: launchGateway,
    async close() {
      for (const running of gateways) await running.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}
