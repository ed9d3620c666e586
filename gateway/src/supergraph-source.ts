import { readFile, stat } from 'node:fs/promises';
import type { SupergraphManager } from '@apollo/gateway';
import type { Logger } from '@nexusflow/kit/core';

export type SupergraphUpdate = { outcome: 'loaded' } | { outcome: 'rejected'; error: Error };

export interface SupergraphFileOptions {
  path: string;
  /** How often the file is checked for a new version; 0 never checks. @default 0 */
  pollIntervalMs?: number;
  logger: Logger;
  onUpdate?: (update: SupergraphUpdate) => void;
}

/**
 * Serves the supergraph from a file and, when polling is on, swaps in a new version without a restart.
 * The registry replaces the file by renaming, so a poll never reads half of it. A new version that
 * fails to load is reported and the one already serving stays in place; requests in flight finish on
 * the plan they started with.
 */
export function supergraphFromFile(options: SupergraphFileOptions): SupergraphManager {
  return {
    async initialize({ update }) {
      let serving = await readFile(options.path, 'utf8');
      let seen = await stat(options.path);
      if (!options.pollIntervalMs) return { supergraphSdl: serving };
      let checking = false;
      const check = async () => {
        const current = await stat(options.path);
        if (current.mtimeMs === seen.mtimeMs && current.size === seen.size && current.ino === seen.ino) return;
        seen = current;
        const candidate = await readFile(options.path, 'utf8');
        if (candidate === serving) return;
        try {
          update(candidate);
        } catch (error) {
          options.logger.error({ err: error, path: options.path }, 'new supergraph rejected; still serving the previous one');
          options.onUpdate?.({ outcome: 'rejected', error: error as Error });
          return;
        }
        serving = candidate;
        options.logger.info({ path: options.path }, 'serving a new supergraph');
        options.onUpdate?.({ outcome: 'loaded' });
      };
      const timer = setInterval(() => {
        if (checking) return;
        checking = true;
        check()
          .catch((error: unknown) => options.logger.warn({ err: error, path: options.path }, 'could not read the supergraph file'))
          .finally(() => {
            checking = false;
          });
      }, options.pollIntervalMs);
      timer.unref();
      return { supergraphSdl: serving, cleanup: async () => clearInterval(timer) };
    },
  };
}
