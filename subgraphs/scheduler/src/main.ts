import { runMain, startSubgraph } from '@nexusflow/kit';
import { loadSchedulerConfig } from './config.ts';
import { schedulerSubgraph } from './subgraph.ts';

await runMain(async () => {
  const config = loadSchedulerConfig();
  return startSubgraph(schedulerSubgraph(config), config.subgraph);
});
