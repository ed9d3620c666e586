import { startSubgraph, type Environment } from '@nexusflow/kit';
import { loadNotificationsConfig } from './config.ts';
import { notificationsSubgraph } from './subgraph.ts';

/** Starts the notifications subgraph, configured from `env` (the process environment when omitted). */
export function start(env?: Environment) {
  const config = loadNotificationsConfig(env);
  return startSubgraph(notificationsSubgraph(config), config.subgraph);
}
