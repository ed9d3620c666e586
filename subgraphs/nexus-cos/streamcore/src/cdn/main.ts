import { createLogger, defaultLogFormat, runMain } from '@nexusflow/kit';
import { loadCdnEdgeConfig } from './config.ts';
import { startCdnEdge } from './edge.ts';
import { DirectoryOriginStore } from './origin-store.ts';

const config = loadCdnEdgeConfig();
const logger = createLogger({ name: 'cdn-edge', level: config.logLevel, format: defaultLogFormat(config.nodeEnv) });

await runMain(async () => {
  const edge = await startCdnEdge({ ...config, origin: new DirectoryOriginStore(config.originDirectory), logger });
  logger.info({ url: edge.url, origin: config.originDirectory }, 'CDN edge ready');
  return edge;
});
