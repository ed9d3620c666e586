import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { GraphQLError, parse, type GraphQLSchema } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const supergraphConfigSchema = z.object({
  federation_version: z.string().optional(),
  subgraphs: z.record(
    // Hyphens as the topology's service names have them (Nexus COS's token-mgr); composition names each graph's enum value.
    z.string().regex(/^[a-z][a-z0-9_-]*$/, 'subgraph names are lower-case words joined by "-" or "_"'),
    z.object({ routing_url: z.url(), schema: z.object({ file: z.string() }) }),
  ),
});

export interface SubgraphSource {
  name: string;
  url: string;
  sdl: string;
}

async function parseSupergraphConfig(configFile: string): Promise<z.output<typeof supergraphConfigSchema>> {
  const parsed = supergraphConfigSchema.safeParse(parseYaml(await readFile(configFile, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${configFile}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Reads a supergraph config in Apollo Rover's format: each subgraph's routing URL and SDL file. */
export async function readSupergraphConfig(configFile: string): Promise<SubgraphSource[]> {
  const config = await parseSupergraphConfig(configFile);
  return Promise.all(
    Object.entries(config.subgraphs).map(async ([name, subgraph]) => ({
      name,
      url: subgraph.routing_url,
      sdl: await readFile(resolve(dirname(configFile), subgraph.schema.file), 'utf8'),
    })),
  );
}

/** Each subgraph's folder in a supergraph config: the one its schema file is in. */
export async function readSubgraphDirectories(configFile: string): Promise<{ name: string; directory: string }[]> {
  const config = await parseSupergraphConfig(configFile);
  return Object.entries(config.subgraphs).map(([name, subgraph]) => ({
    name,
    directory: dirname(resolve(dirname(configFile), subgraph.schema.file)),
  }));
}

/** One reason composition failed, located as precisely as the composer allows. */
export interface CompositionProblem {
  code: string;
  message: string;
  /** The subgraphs the problem was found in, when the composer says. */
  subgraphs: string[];
  /** The schema coordinate the problem is about (`Type` or `Type.field`), when the message names one. */
  coordinate?: string;
}

export class CompositionError extends Error {
  constructor(readonly problems: CompositionProblem[]) {
    super(
      `Composition failed:\n${problems
        .map((p) => `  - [${p.subgraphs.join(', ') || 'supergraph'}] ${p.coordinate ? `${p.coordinate}: ` : ''}${p.code}: ${p.message}`)
        .join('\n')}`,
    );
    this.name = 'CompositionError';
  }
}

const COORDINATE = /"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?(?:\([A-Za-z_][A-Za-z0-9_]*:\))?)"/;

function problemOf(error: GraphQLError, subgraphNames: Set<string>): CompositionProblem {
  const fromNodes = (error.nodes ?? [])
    .map((node) => node.loc?.source.name)
    .filter((name): name is string => !!name && subgraphNames.has(name));
  const fromMessage = [...error.message.matchAll(/\[([a-z][a-z0-9_]*)\]/g)].map((m) => m[1]!).filter((name) => subgraphNames.has(name));
  const quoted = [...error.message.matchAll(/subgraphs? "([a-z][a-z0-9_]*)"/g)].map((m) => m[1]!).filter((name) => subgraphNames.has(name));
  return {
    code: typeof error.extensions?.code === 'string' ? error.extensions.code : 'COMPOSITION_ERROR',
    message: error.message,
    subgraphs: [...new Set([...fromNodes, ...fromMessage, ...quoted])].sort(),
    coordinate: COORDINATE.exec(error.message)?.[1],
  };
}

/** Composes subgraph SDLs into a supergraph SDL with Apollo's own composition, as Rover does. */
export function composeSupergraph(subgraphs: SubgraphSource[]): string {
  const names = new Set(subgraphs.map(({ name }) => name));
  let services;
  try {
    services = subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl, { noLocation: false }) }));
  } catch (error) {
    const subgraph = subgraphs.find(({ sdl }) => {
      try {
        parse(sdl);
        return false;
      } catch {
        return true;
      }
    });
    throw new CompositionError([
      { code: 'INVALID_GRAPHQL', message: (error as Error).message, subgraphs: subgraph ? [subgraph.name] : [] },
    ]);
  }
  const result = composeServices(services);
  if (result.errors) throw new CompositionError(result.errors.map((error) => problemOf(error, names)));
  return result.supergraphSdl;
}

/**
 * The schema clients see: the supergraph without federation's join and link machinery. Built as a router reads it, so
 * that a supergraph using the authorization directives (`for: SECURITY` features stock @apollo/gateway refuses) has one.
 */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }).apiSchema().toGraphQLJSSchema();
}
