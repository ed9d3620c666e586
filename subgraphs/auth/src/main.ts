import { runMain, startSubgraph } from '@nexusflow/kit';
import { loadAuthConfig } from './config.ts';
import { authSubgraph } from './subgraph.ts';

await runMain(async () => {
  const config = loadAuthConfig();
  return startSubgraph(authSubgraph(config), config.subgraph);
});
