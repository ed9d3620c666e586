import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const supergraphConfigSchema = z.object({
  federation_version: z.string().optional(),
  subgraphs: z.record(
    z.string().regex(/^[a-z][a-z0-9_]*$/, 'subgraph names are lower-case identifiers'),
    z.object({ routing_url: z.url(), schema: z.object({ file: z.string() }) }),
  ),
});

export interface SubgraphSource {
  name: string;
  url: string;
  sdl: string;
  file: string;
}

export async function readSupergraphConfig(configFile: string): Promise<SubgraphSource[]> {
  const parsed = supergraphConfigSchema.safeParse(parseYaml(await readFile(configFile, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${configFile}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return Promise.all(
    Object.entries(parsed.data.subgraphs).map(async ([name, subgraph]) => {
      const file = resolve(dirname(configFile), subgraph.schema.file);
      return { name, url: subgraph.routing_url, file, sdl: await readFile(file, 'utf8') };
    }),
  );
}

export class CompositionError extends Error {
  constructor(readonly problems: string[]) {
    super(`Composition failed:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'CompositionError';
  }
}

/** Composes subgraph SDLs into a supergraph SDL with Apollo's own composition, as Rover does. */
export function composeSupergraph(subgraphs: SubgraphSource[]): string {
  const result = composeServices(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
  if (result.errors) {
    throw new CompositionError(result.errors.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`));
  }
  return result.supergraphSdl;
}
