import { readFile, stat } from 'node:fs/promises';
import type { SupergraphManager } from '@apollo/gateway';
import type { Logger } from '@nexusflow/kit';

export interface SupergraphFileOptions {
  path: string;
  /** How often the file is checked for a new version; 0 never checks. @default 0 */
  pollIntervalMs?: number;
  logger: Logger;
}

/**
 * Serves the supergraph from a file and, when polling is on, swaps in a new version without a restart.
 * A new version that fails to load is reported and the one already serving stays in place.
 */
export function supergraphFromFile(options: SupergraphFileOptions): SupergraphManager {
  return {
    async initialize({ update }) {
      let lastModified = (await stat(options.path)).mtimeMs;
      const supergraphSdl = await readFile(options.path, 'utf8');
      if (!options.pollIntervalMs) return { supergraphSdl };
      let checking = false;
      const timer = setInterval(async () => {
        if (checking) return;
        checking = true;
        try {
          const modified = (await stat(options.path)).mtimeMs;
          if (modified === lastModified) return;
          lastModified = modified;
          update(await readFile(options.path, 'utf8'));
          options.logger.info({ path: options.path }, 'loaded a new supergraph');
        } catch (error) {
          options.logger.error({ err: error, path: options.path }, 'new supergraph rejected; still serving the previous one');
        } finally {
          checking = false;
        }
      }, options.pollIntervalMs);
      timer.unref();
      return { supergraphSdl, cleanup: async () => clearInterval(timer) };
    },
  };
}
