import { runMain, startSubgraph } from '@nexusflow/kit';
import { loadWorkflowsConfig } from './config.ts';
import { workflowsSubgraph } from './subgraph.ts';

await runMain(async () => {
  const config = loadWorkflowsConfig();
  return startSubgraph(workflowsSubgraph(config), config.subgraph);
});
