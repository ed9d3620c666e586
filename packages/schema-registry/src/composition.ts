import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { GraphQLError, parse, Source, type GraphQLSchema } from 'graphql';
import { z } from 'zod';
import { readYaml } from './yaml.ts';

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
  const parsed = supergraphConfigSchema.safeParse(readYaml(configFile, await readFile(configFile, 'utf8')));
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

const COORDINATE = /"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?(?:\([A-Za-z_][A-Za-z0-9_]*:\))?)"/g;
/** Apollo's messages name subgraphs as `[name]`, and in lists after "subgraph(s)": `subgraphs "a", "b" and "c"`. */
const BRACKETED = /\[([a-z][a-z0-9_-]*)\]/g;
const LISTED = /subgraphs? ((?:"[^"]+"(?:, | and |,? or )?)+)/g;
const QUOTED = /"([^"]+)"/g;

function problemOf(error: GraphQLError, subgraphNames: Set<string>): CompositionProblem {
  const fromNodes = (error.nodes ?? []).map((node) => node.loc?.source.name);
  const bracketed = [...error.message.matchAll(BRACKETED)].map((match) => match[1]);
  const listed = [...error.message.matchAll(LISTED)].flatMap((list) => [...list[1]!.matchAll(QUOTED)].map((match) => match[1]));
  const subgraphs = [...new Set([...fromNodes, ...bracketed, ...listed])].filter(
    (name): name is string => !!name && subgraphNames.has(name),
  );
  // The first quoted name that is no subgraph's: a subgraph may share its name with a field (workflows' `workflows`).
  const quotedNames = new Set(listed);
  const coordinate = [...error.message.matchAll(COORDINATE)].map((match) => match[1]!).find((name) => !quotedNames.has(name));
  return {
    code: typeof error.extensions?.code === 'string' ? error.extensions.code : 'COMPOSITION_ERROR',
    message: error.message,
    subgraphs: subgraphs.sort(),
    ...(coordinate ? { coordinate } : {}),
  };
}

/** Each subgraph whose SDL does not parse, with where: composition cannot start until every one does. */
function syntaxProblems(subgraphs: SubgraphSource[]): CompositionProblem[] {
  return subgraphs.flatMap(({ name, sdl }) => {
    try {
      parse(sdl);
      return [];
    } catch (error) {
      const { line, column } = (error as GraphQLError).locations?.[0] ?? {};
      const where = line === undefined ? '' : ` (line ${line}, column ${column})`;
      return [{ code: 'INVALID_GRAPHQL', message: `${(error as Error).message}${where}`, subgraphs: [name] }];
    }
  });
}

/** Composes subgraph SDLs into a supergraph SDL with Apollo's own composition, as Rover does. */
export function composeSupergraph(subgraphs: SubgraphSource[]): string {
  const names = new Set(subgraphs.map(({ name }) => name));
  const unparsable = syntaxProblems(subgraphs);
  if (unparsable.length > 0) throw new CompositionError(unparsable);
  const services = subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(new Source(sdl, name)) }));
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
