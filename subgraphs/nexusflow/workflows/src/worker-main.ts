import { runMain, startWorker } from '@nexusflow/kit';
import { loadWorkflowsConfig } from './config.ts';
import { workflowsWorker } from './worker.ts';

await runMain(async () => {
  const config = loadWorkflowsConfig();
  return startWorker(workflowsWorker(config), config.subgraph);
});
