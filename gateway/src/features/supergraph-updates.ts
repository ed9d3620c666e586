import { EventEmitter } from 'node:events';
import type { SupergraphManager } from '@apollo/gateway';
import type { Logger } from '@nexusflow/kit/core';
import { supergraphFromFile, type SupergraphUpdate } from '../supergraph-source.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface SupergraphUpdates {
  /** Where the gateway reads its supergraph: the file, polled for new versions. */
  source: SupergraphManager;
  /** Called after every attempt to switch to a new supergraph; returns an unsubscribe function. */
  onUpdate: (listener: (update: SupergraphUpdate) => void) => () => void;
}

/** The supergraph file, with every attempt to switch to a new version counted and told to listeners. */
export function supergraphUpdates(path: string, pollIntervalMs: number, logger: Logger, metrics: GatewayMetrics): SupergraphUpdates {
  const updates = new EventEmitter<{ update: [SupergraphUpdate] }>();
  return {
    source: supergraphFromFile({
      path,
      pollIntervalMs,
      logger,
      onUpdate: (update) => {
        metrics.supergraphUpdates.inc({ outcome: update.outcome });
        updates.emit('update', update);
      },
    }),
    onUpdate: (listener) => {
      updates.on('update', listener);
      return () => updates.off('update', listener);
    },
  };
}
