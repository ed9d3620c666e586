import { startSubgraph, type Environment } from '@nexusflow/kit';
import { loadWorkflowsConfig } from './config.ts';
import { workflowsSubgraph } from './subgraph.ts';

/** Starts the workflows subgraph, configured from `env` (the process environment when omitted). */
export function start(env?: Environment) {
  const config = loadWorkflowsConfig(env);
  return startSubgraph(workflowsSubgraph(config), config.subgraph);
}
