/**
 * The multi-process mode (GATEWAY_WORKERS above 1), like Hive Gateway's fork mode: a primary process forks that many
 * gateway workers with node:cluster. They share the listening sockets (the primary accepts connections and hands
 * them out in turn), and each is a whole gateway of its own: it polls the supergraph, plans, and holds its own
 * upstream subscriptions. The primary serves nothing. It replaces a worker that dies, aggregates the workers' metrics
 * for /metrics, and drains them all on SIGTERM.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '@nexusflow/kit/core';

/** How the primary replaces workers that die. */
export interface RestartPolicy {
  /** The wait before the first replacement; it doubles with every further death within a minute. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Workers in a row that die before they serve (bad configuration, port taken) before the primary gives up. */
  maxStartFailures: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseDelayMs: 100, maxDelayMs: 10_000, maxStartFailures: 5 };
const DEATH_MEMORY_MS = 60_000;
/** A scrape waits this long for the primary; the primary waits 5 s for each worker (prom-client's own limit). */
const SCRAPE_TIMEOUT_MS = 10_000;

/** The messages between the primary and its workers, told apart from prom-client's own by their key. */
type ClusterMessage =
  | { gatewayCluster: 'ready'; url: string }
  | { gatewayCluster: 'scrape'; id: number }
  | { gatewayCluster: 'scraped'; id: number; body: string }
  | { gatewayCluster: 'scrape-failed'; id: number; error: string };

function isClusterMessage(message: unknown): message is ClusterMessage {
  return typeof message === 'object' && message !== null && 'gatewayCluster' in message;
}

export interface GatewayPrimary {
  /** The workers serving now, by process id. */
  workerPids(): number[];
  /** Rejects when workers keep dying before they serve, after the others were stopped: the primary should exit non-zero. */
  failed: Promise<never>;
  /** Sends SIGTERM to every worker, so that each drains as a single gateway does, and resolves once all have exited. */
  close(): Promise<void>;
}

/**
 * Forks `workers` gateways and resolves once every one of them serves; rejects (having stopped the rest) if
 * `maxStartFailures` workers in a row die before they serve.
 */
export async function superviseWorkers(options: { workers: number; logger: Logger; restart?: RestartPolicy }): Promise<GatewayPrimary> {
  const { logger, workers } = options;
  const policy = options.restart ?? DEFAULT_RESTART_POLICY;
  const serving = new Map<Worker, string>();
  const aggregator = new AggregatorRegistry();
  // The primary's own series, added to every aggregated scrape.
  const own = new Registry();
  own.setDefaultLabels({ service: 'gateway' });
  new Gauge({
    name: 'gateway_workers',
    help: 'Gateway worker processes serving (multi-process mode)',
    registers: [own],
    collect() {
      this.set(serving.size);
    },
  });
  const restarts = new Counter({
    name: 'gateway_worker_restarts_total',
    help: 'Gateway workers started in place of one that died',
    registers: [own],
  });
  const replacements = new Set<NodeJS.Timeout>();
  let deaths: number[] = [];
  let startFailures = 0;
  let stopping = false;

  let reportFailure!: (error: Error) => void;
  const failed = new Promise<never>((_resolve, reject) => (reportFailure = reject));
  let reportAllServing!: () => void;
  const allServing = new Promise<void>((resolve) => (reportAllServing = resolve));

  const stopAll = async () => {
    stopping = true;
    for (const timer of replacements) clearTimeout(timer);
    replacements.clear();
    const running = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    await Promise.all(
      running.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  };

  const answerScrape = (worker: Worker, id: number) => {
    Promise.all([aggregator.clusterMetrics(), own.metrics()]).then(
      ([workers, primary]) =>
        worker.isConnected() && worker.send({ gatewayCluster: 'scraped', id, body: `${workers}${primary}` } satisfies ClusterMessage),
      (error: unknown) =>
        worker.isConnected() &&
        worker.send({
          gatewayCluster: 'scrape-failed',
          id,
          error: error instanceof Error ? error.message : String(error),
        } satisfies ClusterMessage),
    );
  };

  const replace = (worker: Worker, code: number | null, signal: string | null, wasServing: boolean) => {
    const now = Date.now();
    deaths = [...deaths.filter((at) => now - at < DEATH_MEMORY_MS), now];
    if (!wasServing && ++startFailures >= policy.maxStartFailures) {
      logger.fatal({ worker: worker.process.pid, code, signal, startFailures }, 'gateway workers keep dying before they serve; giving up');
      void stopAll().then(() => reportFailure(new Error(`${startFailures} gateway workers in a row died before they served`)));
      return;
    }
    const delayMs = Math.min(policy.baseDelayMs * 2 ** (deaths.length - 1), policy.maxDelayMs);
    logger.error({ worker: worker.process.pid, code, signal, restartInMs: delayMs }, 'gateway worker died; starting another');
    const timer = setTimeout(() => {
      replacements.delete(timer);
      if (stopping) return;
      restarts.inc();
      fork();
    }, delayMs);
    replacements.add(timer);
  };

  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (message: unknown) => {
      if (!isClusterMessage(message)) return;
      if (message.gatewayCluster === 'scrape') answerScrape(worker, message.id);
      if (message.gatewayCluster !== 'ready') return;
      serving.set(worker, message.url);
      startFailures = 0;
      if (serving.size === workers) {
        logger.info({ url: message.url, workers, pids: [...serving.keys()].map((each) => each.process.pid) }, 'gateway workers ready');
        reportAllServing();
      }
    });
    worker.once('exit', (code, signal) => {
      const wasServing = serving.delete(worker);
      if (!stopping) replace(worker, code, signal, wasServing);
    });
  };

  for (let index = 0; index < workers; index++) fork();
  await Promise.race([allServing, failed]);
  return {
    workerPids: () => [...serving.keys()].flatMap((worker) => (worker.process.pid === undefined ? [] : [worker.process.pid])),
    failed,
    close: stopAll,
  };
}

/** In a worker: tells the primary that this worker serves (the primary counts it as started from then on). */
export function announceServing(url: string): void {
  process.send?.({ gatewayCluster: 'ready', url } satisfies ClusterMessage);
}

/** Answers /metrics in the multi-process mode: the series of every worker, aggregated by the primary. */
export type MetricsOfAllWorkers = () => Promise<{ contentType: string; body: string }>;

/**
 * In a worker: offers this worker's registry to the primary's aggregation (prom-client's AggregatorRegistry over the
 * cluster's channel), and returns what /metrics answers with, whichever worker takes the scrape.
 */
export function metricsOfAllWorkers(own: Registry): MetricsOfAllWorkers {
  AggregatorRegistry.setRegistries([own]);
  // Constructing one installs the worker's side of prom-client's protocol: it answers the primary's requests.
  new AggregatorRegistry();
  const waiting = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isClusterMessage(message) || (message.gatewayCluster !== 'scraped' && message.gatewayCluster !== 'scrape-failed')) return;
    const scrape = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.gatewayCluster === 'scraped') scrape?.resolve(message.body);
    else scrape?.reject(new Error(message.error));
  });
  return async () => {
    const id = nextId++;
    const body = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not aggregate the metrics within ${SCRAPE_TIMEOUT_MS} ms`));
      }, SCRAPE_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send?.({ gatewayCluster: 'scrape', id } satisfies ClusterMessage);
    });
    return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body };
  };
}
