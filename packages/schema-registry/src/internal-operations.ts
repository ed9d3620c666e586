import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSubgraph } from '@apollo/federation-internals';
import { validate, type GraphQLSchema } from 'graphql';
import type { SubgraphSource } from './composition.ts';
import { loadOperations, type KnownOperation } from './operations.ts';

/** Where one subgraph keeps the documents it sends to others: a folder per target subgraph, named after it. */
export interface InternalOperationSource {
  /** The calling subgraph's name in the supergraph config. */
  caller: string;
  /** Holds `<target>/**\/*.graphql`, e.g. `subgraphs/nexusflow/scheduler/src/operations` with `workflows/scheduled-run.graphql`. */
  directory: string;
}

/** A call one subgraph makes to another, sent straight to the target rather than through the gateway. */
export interface InternalOperation extends KnownOperation {
  caller: string;
  target: string;
}

export interface InternalOperationFailure {
  caller: string;
  target: string;
  operation: string;
  source: string;
  errors: string[];
}

/** How a report names a broken internal call: `scheduler → workflows: operation ScheduledRun`. */
export function describeInternalOperation({
  caller,
  target,
  operation,
}: Pick<InternalOperationFailure, 'caller' | 'target' | 'operation'>): string {
  return `${caller} → ${target}: operation ${operation}`;
}

/** Every internal operation of every caller; a caller without an operations folder makes no calls. */
export async function loadInternalOperations(sources: InternalOperationSource[], root = process.cwd()): Promise<InternalOperation[]> {
  const lists = await Promise.all(
    sources.map(async ({ caller, directory }) => {
      const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
      const targets = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
      const perTarget = await Promise.all(
        targets
          .sort()
          .map(async (target) =>
            (await loadOperations(join(directory, target), root)).map((operation) => ({ ...operation, caller, target })),
          ),
      );
      return perTarget.flat();
    }),
  );
  return lists.flat();
}

/** A subgraph's own schema as its server answers it: with federation's directives, `_entities` and `_service`. */
function subgraphSchemaOf({ name, url, sdl }: SubgraphSource): GraphQLSchema {
  return buildSubgraph(name, url, sdl).schema.toGraphQLJSSchema();
}

/**
 * Validates each internal operation against its target's proposed subgraph schema, not the API schema: a subgraph may
 * call fields the gateway does not expose, and changing those must not break its callers either.
 */
export function validateInternalOperations(subgraphs: SubgraphSource[], operations: InternalOperation[]): InternalOperationFailure[] {
  const schemas = new Map<string, GraphQLSchema>();
  const schemaOf = (target: string): GraphQLSchema | undefined => {
    if (!schemas.has(target)) {
      const source = subgraphs.find(({ name }) => name === target);
      if (source) schemas.set(target, subgraphSchemaOf(source));
    }
    return schemas.get(target);
  };
  return operations.flatMap(({ caller, target, name, source, document }) => {
    const schema = schemaOf(target);
    const errors = schema
      ? [...new Set(validate(schema, document).map((error) => error.message))]
      : [`there is no subgraph named "${target}" in the supergraph`];
    return errors.length === 0 ? [] : [{ caller, target, operation: name, source, errors }];
  });
}
