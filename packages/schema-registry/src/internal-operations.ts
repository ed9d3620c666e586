import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSubgraph } from '@apollo/federation-internals';
import { validate, type GraphQLSchema } from 'graphql';
import { schemaCoordinatesOf } from '@nexusflow/kit/core';
import { diffApiSchemas, type SchemaChange } from './changes.ts';
import type { SubgraphSource } from './composition.ts';
import { loadOperations, operationsAffectedBy, type KnownOperation } from './operations.ts';

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
  /** When the call still validates: the target's breaking change that breaks it. */
  change?: { type: string; path: string };
  /** The reviewed reason such a change is safe for this call. */
  acknowledged?: string;
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
 * call fields the gateway does not expose, and changing those must not break its callers either. A call that still
 * validates can still be broken by its target's change since `published` (a new required input field, a field that may
 * now be null, an argument's new type): such a breaking change, found by the same rules as the API's, fails each call
 * that uses what it changes, unless acknowledged (`acknowledge`, as an API change is) with the reason it is safe, e.g.
 * that the caller was changed with it and the target deploys first.
 */
export async function validateInternalOperations(
  subgraphs: SubgraphSource[],
  operations: InternalOperation[],
  published: SubgraphSource[] = [],
  acknowledge: (change: SchemaChange) => string | undefined = () => undefined,
): Promise<InternalOperationFailure[]> {
  const schemas = new Map<string, GraphQLSchema>();
  const schemaOf = (target: string): GraphQLSchema | undefined => {
    if (!schemas.has(target)) {
      const source = subgraphs.find(({ name }) => name === target);
      if (source) schemas.set(target, subgraphSchemaOf(source));
    }
    return schemas.get(target);
  };
  const changes = new Map<string, Promise<{ before: GraphQLSchema; breaking: SchemaChange[] } | undefined>>();
  const changesOf = (target: string) => {
    if (!changes.has(target)) changes.set(target, breakingChangesOf(target, published, subgraphs, schemaOf));
    return changes.get(target)!;
  };
  const failures = await Promise.all(
    operations.map(async ({ caller, target, name, source, document, unreadable }): Promise<InternalOperationFailure[]> => {
      if (unreadable) return [{ caller, target, operation: name, source, errors: [unreadable] }];
      const schema = schemaOf(target);
      if (!schema)
        return [{ caller, target, operation: name, source, errors: [`there is no subgraph named "${target}" in the supergraph`] }];
      const errors = [...new Set(validate(schema, document).map((error) => error.message))];
      if (errors.length > 0) return [{ caller, target, operation: name, source, errors }];
      const changed = await changesOf(target);
      if (!changed) return [];
      const usage = new Map([[{ name, source, document }, schemaCoordinatesOf(changed.before, document)]]);
      const breaking = changed.breaking.filter(
        (change) => change.path && operationsAffectedBy({ type: change.type, path: change.path }, usage).length > 0,
      );
      return breaking.map((change) => {
        const failure: InternalOperationFailure = {
          caller,
          target,
          operation: name,
          source,
          errors: [`${change.type} ${change.path}: ${change.message}`],
          change: { type: change.type, path: change.path! },
        };
        const acknowledged = acknowledge(change);
        return acknowledged ? { ...failure, acknowledged } : failure;
      });
    }),
  );
  return failures.flat();
}

/** The breaking changes of one target's own schema since it was published; none when it is new or unchanged. */
async function breakingChangesOf(
  target: string,
  published: SubgraphSource[],
  proposed: SubgraphSource[],
  schemaOf: (target: string) => GraphQLSchema | undefined,
): Promise<{ before: GraphQLSchema; breaking: SchemaChange[] } | undefined> {
  const before = published.find(({ name }) => name === target);
  const after = proposed.find(({ name }) => name === target);
  if (!before || !after || before.sdl === after.sdl) return undefined;
  let previous: GraphQLSchema;
  try {
    previous = subgraphSchemaOf(before);
  } catch {
    // A published schema this version of federation cannot build again: nothing to compare against.
    return undefined;
  }
  const breaking = (await diffApiSchemas(previous, schemaOf(target)!)).filter((change) => change.severity === 'breaking');
  return { before: previous, breaking };
}
