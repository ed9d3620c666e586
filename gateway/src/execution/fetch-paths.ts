import type { FetchNode } from '@apollo/query-planner';
import { Kind, parse, type FragmentDefinitionNode, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import { isObjectOfType } from './vendored/apollo-gateway.ts';

export type ResponsePath = (string | number)[];

/** A field a fetch was to provide: its name in the client's response, and on an entity fetch the type it was asked on. */
interface ProvidedField {
  responseName: string;
  typeCondition: string | undefined;
}

const FRAGMENT_PREFIX = '... on ';

/** Read from the fetch's operation once, and only for a fetch that failed. */
const providedFieldsCache = new WeakMap<FetchNode, ProvidedField[]>();

/**
 * The paths, in the client's response, of every field a fetch was to provide: one per field per entity it was sent
 * for, e.g. `["me", "unreadNotificationCount"]`, or `["workflows", "edges", 3, "node", "schedules"]` for the fourth
 * entity of a list. This is where a failed fetch leaves nulls, so it is where its errors belong (Apollo Router also
 * reports such a failure once per entity, never with the plan's `@`).
 */
export function pathsOfFetchedFields(
  schema: GraphQLSchema,
  fetch: FetchNode,
  cursorPath: ResponsePath,
  fullResult: Record<string, unknown>,
): ResponsePath[] {
  const fields = providedFields(fetch);
  const paths: ResponsePath[] = [];
  for (const { path, value } of targetsAt(cursorPath, fullResult)) {
    for (const field of fields) {
      if (field.typeCondition !== undefined && !isObjectOfType(schema, value, field.typeCondition)) continue;
      paths.push([...path, field.responseName]);
    }
  }
  return paths;
}

function providedFields(fetch: FetchNode): ProvidedField[] {
  let fields = providedFieldsCache.get(fetch);
  if (!fields) {
    fields = readProvidedFields(fetch);
    providedFieldsCache.set(fetch, fields);
  }
  return fields;
}

function readProvidedFields(fetch: FetchNode): ProvidedField[] {
  const document = fetch.operationDocumentNode ?? parse(fetch.operation);
  const fragments = new Map<string, FragmentDefinitionNode>();
  let root: SelectionSetNode | undefined;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (definition.kind === Kind.OPERATION_DEFINITION) root ??= definition.selectionSet;
  }
  if (!root) return [];
  const renamed = renamedKeys(fetch);
  const fields: ProvidedField[] = [];
  const collect = (selectionSet: SelectionSetNode, typeCondition: string | undefined, seen: Set<string>): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') continue;
        const key = selection.alias?.value ?? selection.name.value;
        const responseName = renamed.get(`${typeCondition ?? ''}\u0000${key}`) ?? key;
        if (!fields.some((field) => field.responseName === responseName && field.typeCondition === typeCondition))
          fields.push({ responseName, typeCondition });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet, selection.typeCondition?.name.value ?? typeCondition, seen);
      } else if (!seen.has(selection.name.value)) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet, fragment.typeCondition.name.value, new Set(seen).add(selection.name.value));
      }
    }
  };
  if (!fetch.requires) {
    collect(root, undefined, new Set());
    return fields;
  }
  // An entity fetch asks for `_entities(representations:) { ... on User { … } }`: the fields are those under it.
  for (const selection of root.selections) {
    if (selection.kind === Kind.FIELD && selection.name.value === '_entities' && selection.selectionSet)
      collect(selection.selectionSet, undefined, new Set());
  }
  return fields;
}

/** Fields the planner aliased in the subgraph operation (to avoid conflicts), by type condition and alias: their names in the response. */
function renamedKeys(fetch: FetchNode): Map<string, string> {
  const renamed = new Map<string, string>();
  for (const rewrite of fetch.outputRewrites ?? []) {
    if (rewrite.kind !== 'KeyRenamer') continue;
    const [first, second] = rewrite.path;
    if (rewrite.path.length === 1 && first !== undefined) renamed.set(`\u0000${first}`, rewrite.renameKeyTo);
    else if (rewrite.path.length === 2 && first?.startsWith(FRAGMENT_PREFIX) && second !== undefined) {
      renamed.set(`${first.slice(FRAGMENT_PREFIX.length)}\u0000${second}`, rewrite.renameKeyTo);
    }
  }
  return renamed;
}

/** Every object at the cursor's path (`@` standing for each element of a list), with its concrete path. */
function targetsAt(
  cursorPath: ResponsePath,
  fullResult: Record<string, unknown>,
): { path: ResponsePath; value: Record<string, unknown> }[] {
  const targets: { path: ResponsePath; value: Record<string, unknown> }[] = [];
  const walk = (value: unknown, from: number, path: ResponsePath): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      // Both `@` and a field reached through a list apply to each element, as stock's flattening does.
      const next = cursorPath[from] === '@' ? from + 1 : from;
      value.forEach((element, index) => walk(element, next, [...path, index]));
      return;
    }
    if (typeof value !== 'object') return;
    if (from === cursorPath.length) {
      targets.push({ path, value: value as Record<string, unknown> });
      return;
    }
    const key = cursorPath[from]!;
    if (key === '@') return;
    walk(Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key as string] : undefined, from + 1, [...path, key]);
  };
  walk(fullResult, 0, []);
  return targets;
}
