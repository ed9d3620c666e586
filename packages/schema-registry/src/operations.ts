import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  Kind,
  parse,
  validate,
  visit,
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
} from 'graphql';
import { z } from 'zod';

/** A client operation the registry knows, with everything needed to validate it on its own. */
export interface KnownOperation {
  name: string;
  /** Where it came from: a file of the web client, or a persisted-query manifest. */
  source: string;
  document: DocumentNode;
  /** Why the operation could not be read (a syntax error, no name): it fails the check as one that no longer validates. */
  unreadable?: string;
}

/** Where a syntax error is, for a report: ` (line 3, column 7)`. */
function positionOf(error: unknown): string {
  const location = (error as { locations?: { line: number; column: number }[] }).locations?.[0];
  return location ? ` (line ${location.line}, column ${location.column})` : '';
}

/** A file, or a manifest's operation, the check could not read: reported as a failure of the change, with where. */
function unreadable(name: string, source: string, problem: string): KnownOperation {
  return { name, source, document: { kind: Kind.DOCUMENT, definitions: [] }, unreadable: problem };
}

/** Apollo's generator names its manifests so; another JSON file (a tsconfig, a package.json) is none of the check's. */
const MANIFEST_FILE = /manifest[^/]*\.json$/;

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string(), name: z.string(), type: z.string(), body: z.string() })),
});

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile() && !entry.parentPath.includes('node_modules'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function fragmentsUsed(
  node: DefinitionNode,
  fragments: Map<string, FragmentDefinitionNode>,
  seen = new Set<string>(),
): FragmentDefinitionNode[] {
  const found: FragmentDefinitionNode[] = [];
  visit(node, {
    FragmentSpread(spread) {
      const name = spread.name.value;
      const fragment = fragments.get(name);
      if (seen.has(name) || !fragment) return;
      seen.add(name);
      found.push(fragment, ...fragmentsUsed(fragment, fragments, seen));
    },
  });
  return found;
}

/**
 * Every named operation in `*.graphql` files under `directory` (fragments shared across the folder),
 * and every operation of Apollo persisted-query manifests (`*.json` with that format) under it.
 */
export async function loadOperations(directory: string, root = process.cwd()): Promise<KnownOperation[]> {
  const files = await filesUnder(directory);
  const operations: KnownOperation[] = [];
  const graphqlDefinitions: { file: string; definition: DefinitionNode }[] = [];
  for (const file of files) {
    const label = relative(root, file);
    if (file.endsWith('.graphql') || file.endsWith('.gql')) {
      let document: DocumentNode;
      try {
        document = parse(await readFile(file, 'utf8'));
      } catch (error) {
        operations.push(unreadable(label, label, `${(error as Error).message}${positionOf(error)}`));
        continue;
      }
      for (const definition of document.definitions) graphqlDefinitions.push({ file: label, definition });
    } else if (file.endsWith('.json')) {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        if (MANIFEST_FILE.test(file)) operations.push(unreadable(label, label, `not JSON: ${(error as Error).message}`));
        continue;
      }
      const parsed = manifestSchema.safeParse(json);
      if (!parsed.success) {
        if (MANIFEST_FILE.test(file))
          operations.push(
            unreadable(
              label,
              label,
              `not an Apollo persisted-query manifest: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ')}`,
            ),
          );
        continue;
      }
      for (const operation of parsed.data.operations) {
        const source = `${label}#${operation.id.slice(0, 12)}`;
        try {
          operations.push({ name: operation.name, source, document: parse(operation.body) });
        } catch (error) {
          operations.push(unreadable(operation.name, source, `${(error as Error).message}${positionOf(error)}`));
        }
      }
    }
  }
  const fragments = new Map(
    graphqlDefinitions.flatMap(({ definition }) =>
      definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [],
    ),
  );
  for (const { file, definition } of graphqlDefinitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    if (!definition.name) {
      operations.push(unreadable(file, file, 'every operation needs a name, so that checks can report it'));
      continue;
    }
    operations.push({
      name: definition.name.value,
      source: file,
      document: { kind: Kind.DOCUMENT, definitions: [definition, ...fragmentsUsed(definition, fragments)] },
    });
  }
  return operations;
}

export interface OperationFailure {
  operation: string;
  source: string;
  errors: string[];
}

export function validateOperations(schema: GraphQLSchema, operations: KnownOperation[]): OperationFailure[] {
  return operations.flatMap(({ name, source, document, unreadable: problem }) => {
    if (problem) return [{ operation: name, source, errors: [problem] }];
    const errors = validate(schema, document);
    return errors.length === 0 ? [] : [{ operation: name, source, errors: [...new Set(errors.map((error) => error.message))] }];
  });
}

/**
 * Changes that affect every user of the enclosing coordinate rather than of the changed one: a new
 * required argument breaks every call of its field, a removed enum value every use of its enum.
 */
const AFFECTS_ENCLOSING = new Set(['FIELD_ARGUMENT_ADDED', 'INPUT_FIELD_ADDED', 'ENUM_VALUE_REMOVED', 'ENUM_VALUE_ADDED']);

/** The operations that use what a change touches: the coordinate itself, or anything inside it. */
export function operationsAffectedBy(change: { type: string; path: string }, usage: Map<KnownOperation, Set<string>>): KnownOperation[] {
  const path = AFFECTS_ENCLOSING.has(change.type) ? change.path.split('.').slice(0, -1).join('.') : change.path;
  return [...usage]
    .filter(([, coordinates]) => [...coordinates].some((c) => c === path || c.startsWith(`${path}.`)))
    .map(([operation]) => operation);
}
