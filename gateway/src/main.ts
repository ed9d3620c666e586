import cluster from 'node:cluster';
import { createLogger, runMain, type Stoppable } from '@nexusflow/kit/core';
import { announceServing, metricsOfAllWorkers, superviseWorkers } from './cluster.ts';
import { loadGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

/**
 * A worker's deadline (runMain's default), and the primary's a little longer, so that a primary never exits while its
 * workers still drain; both within the 20 s that docker-compose.yml and the Kubernetes manifests grant before SIGKILL.
 */
const WORKER_SHUTDOWN_DEADLINE_MS = 15_000;
const PRIMARY_SHUTDOWN_DEADLINE_MS = 18_000;

/**
 * One gateway in this process; or, with GATEWAY_WORKERS above 1, a primary that forks that many and supervises them
 * (./cluster.ts), each worker running this same file.
 */
async function main(): Promise<Stoppable> {
  const config = loadGatewayConfig(undefined, process.argv.slice(2));
  if (config.workers === 1) return startGateway(config);
  if (cluster.isWorker) {
    const gateway = await startGateway(config, { metricsOfAllWorkers });
    announceServing(gateway.url);
    return gateway;
  }
  const logger = createLogger({ name: 'gateway-primary', level: config.logLevel });
  const primary = await superviseWorkers({ workers: config.workers, logger });
  // Workers that keep dying later (a supergraph gone, a port taken by a restart) end the primary too, so that its
  // supervisor (Kubernetes, systemd, the launcher) sees the failure.
  primary.failed.catch(() => process.exit(1));
  return primary;
}

await runMain(main, {
  shutdownTimeoutMs: cluster.isPrimary ? PRIMARY_SHUTDOWN_DEADLINE_MS : WORKER_SHUTDOWN_DEADLINE_MS,
});
