import { startSubgraph, type Environment } from '@nexusflow/kit';
import { loadSchedulerConfig } from './config.ts';
import { schedulerSubgraph } from './subgraph.ts';

/** Starts the scheduler subgraph, configured from `env` (the process environment when omitted). */
export function start(env?: Environment) {
  const config = loadSchedulerConfig(env);
  return startSubgraph(schedulerSubgraph(config), config.subgraph);
}
