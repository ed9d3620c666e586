import { startSubgraph, type Environment } from '@nexusflow/kit';
import { loadAuthConfig } from './config.ts';
import { authSubgraph } from './subgraph.ts';

/** Starts the auth subgraph, configured from `env` (the process environment when omitted). */
export function start(env?: Environment) {
  const config = loadAuthConfig(env);
  return startSubgraph(authSubgraph(config), config.subgraph);
}
