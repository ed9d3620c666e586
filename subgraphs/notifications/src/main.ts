import { runMain, startSubgraph } from '@nexusflow/kit';
import { loadNotificationsConfig } from './config.ts';
import { notificationsSubgraph } from './subgraph.ts';

await runMain(async () => {
  const config = loadNotificationsConfig();
  return startSubgraph(notificationsSubgraph(config), config.subgraph);
});
