import { PeriodicTask, type RouteHandler, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import { cdnEdgeRoute } from './cdn/edge.ts';
import { DirectoryOriginStore } from './cdn/origin-store.ts';
import { BUILT_IN_EDGE_PATH, type StreamcoreConfig } from './config.ts';
import type { StreamcoreServices } from './context.ts';
import { ContentCatalog } from './domain/content-catalog.ts';
import { MediaLibrary } from './domain/media.ts';
import { Playback } from './domain/playback.ts';
import { ViewCounts } from './domain/view-counts.ts';

export function createStreamcoreServices(runtime: SubgraphRuntime, config: StreamcoreConfig): StreamcoreServices {
  const now = () => new Date(runtime.clock());
  const origin = new DirectoryOriginStore(config.cdn.originDirectory);
  const catalog = new ContentCatalog(config.contentManagementUrl, runtime.config.internalSecret, runtime.clock);
  const viewCounts = new ViewCounts(runtime.pubsub, now, runtime.logger);
  const playback = new Playback(catalog, origin, viewCounts, { ...config.playback, cdn: config.cdn }, now);
  return {
    database: runtime.database,
    media: new MediaLibrary(catalog, now),
    playback,
    viewCounts,
    live: runtime.pubsub,
    origin,
    clock: runtime.clock,
  };
}

/**
 * The built-in CDN edge at /cdn/ on streamcore's own port, serving the origin to signed URLs: what players reach when
 * CDN_BASE_URL names no CDN (a fresh clone, `npm start`). Behind a real CDN, that CDN checks the same tokens instead.
 */
export function streamcoreRoutes(services: StreamcoreServices, config: StreamcoreConfig): RouteHandler[] {
  return [
    cdnEdgeRoute({
      origin: services.origin,
      signingKey: config.cdn.signingKey,
      now: () => services.clock(),
      pathPrefix: BUILT_IN_EDGE_PATH,
    }),
  ];
}

/** The sweep that ends sessions whose heartbeat is overdue, so that they leave the viewers' counts and limits. */
export async function startPlaybackSweep(
  runtime: SubgraphRuntime,
  services: StreamcoreServices,
  config: StreamcoreConfig,
): Promise<Stoppable> {
  const sweep = new PeriodicTask(() => services.playback.expireOverdue(services.database), {
    logger: runtime.logger,
    failureMessage: 'ending overdue playback sessions failed; retrying at the next sweep',
  }).start(config.playback.sweepIntervalMs);
  return { close: () => sweep.stop() };
}
