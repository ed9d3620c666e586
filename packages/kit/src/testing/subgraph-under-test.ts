import type { Environment } from '../platform/config.ts';
import { signIdentity, type Identity } from '../platform/identity.ts';
import type { RunningSubgraph } from '../runtime/subgraph.ts';
import { createTempDirectory } from './databases.ts';
import { postGraphQL, type GraphQLResponse } from './graphql-client.ts';

export interface SubgraphUnderTest<Services> {
  subgraph: RunningSubgraph<Services>;
  /** Calls the subgraph as the gateway does for `identity`: over HTTP, with the identity signed. */
  ask<T = Record<string, unknown>>(identity: Identity, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** What the subgraph logged at error level since it started: a client's mistake must log nothing there. */
  loggedErrors: unknown[][];
  close(): Promise<void>;
}

/**
 * One subgraph on embedded storage in a scratch folder, on a free port, quiet, called directly: for tests of what a
 * subgraph itself answers. `start` receives the environment to load the subgraph's config from.
 */
export async function startSubgraphUnderTest<Services>(
  label: string,
  start: (env: Environment) => Promise<RunningSubgraph<Services>>,
  env: Environment = {},
): Promise<SubgraphUnderTest<Services>> {
  const dataDir = await createTempDirectory(label);
  let subgraph: RunningSubgraph<Services>;
  try {
    subgraph = await start({ PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', ...env });
  } catch (error) {
    await dataDir.remove();
    throw error;
  }
  const loggedErrors: unknown[][] = [];
  const logError = subgraph.logger.error.bind(subgraph.logger);
  subgraph.logger.error = (...args: Parameters<typeof logError>) => {
    loggedErrors.push(args);
    return logError(...args);
  };
  return {
    subgraph,
    loggedErrors,
    ask: (identity, query, variables = {}) =>
      postGraphQL(subgraph.graphqlUrl, query, { variables, headers: signIdentity(identity, subgraph.config.internalSecret) }),
    async close() {
      await subgraph.close();
      await dataDir.remove();
    },
  };
}
