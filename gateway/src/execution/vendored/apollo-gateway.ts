/**
 * Helpers of @apollo/gateway 2.14.4 that its package does not export, copied so that the gateway imports nothing from
 * `@apollo/gateway/dist/*`. Sources, in that version's `dist/`:
 *
 * - `applyRewrites`, `isObjectOfType`: `dataRewrites.js`
 * - `deepMerge`: `utilities/deepMerge.js` (with `isObject` from `utilities/predicates.js`)
 * - `getOwn`, `defineOwn`: `utilities/own.js`
 * - `INCOMING_OPERATION`, `HEALTH_CHECK`: members of `GraphQLDataSourceRequestKind`, `datasources/types.js`
 *
 * The results the gateway gives must stay those of stock @apollo/gateway: gateway/test/vendored-apollo-gateway.test.ts
 * fails when the installed @apollo/gateway is another version than {@link VENDORED_APOLLO_GATEWAY_VERSION}, and checks
 * these copies against the installed originals, so that an upgrade re-copies them rather than drifting silently.
 */
import { assert } from '@apollo/federation-internals';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { FetchDataRewrite } from '@apollo/query-planner';
import { isAbstractType, isInterfaceType, isObjectType, type GraphQLSchema } from 'graphql';

/** The @apollo/gateway version these helpers were copied from. */
export const VENDORED_APOLLO_GATEWAY_VERSION = '2.14.4';

type ResultMap = Record<string, unknown>;

type RequestKind = GraphQLDataSourceProcessOptions['kind'];

/** The kind of a data source request made for a client's operation (members of a string enum @apollo/gateway does not export). */
export const INCOMING_OPERATION = 'incoming operation' as Extract<
  GraphQLDataSourceProcessOptions,
  { incomingRequestContext: unknown }
>['kind'];
/** The kind of a data source request that checks a subgraph's health. */
export const HEALTH_CHECK = 'health check' as Exclude<RequestKind, typeof INCOMING_OPERATION>;

const FRAGMENT_PREFIX = '... on ';

function getOwn(value: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(value, key) ? (value as ResultMap)[key] : undefined;
}

/** Shadows an inherited property (from Object.prototype, say) with an own one, so that assigning it cannot reach the prototype. */
function defineOwn(value: object, key: string): void {
  if (!Object.prototype.hasOwnProperty.call(value, key) && key in value) {
    Object.defineProperty(value, key, { configurable: true, enumerable: true, value: undefined, writable: true });
  }
}

function isObject(value: unknown): value is ResultMap {
  return value !== undefined && value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function applyRewrites(schema: GraphQLSchema, rewrites: FetchDataRewrite[] | undefined, value: ResultMap): void {
  if (!rewrites) return;
  for (const rewrite of rewrites) applyRewrite(schema, rewrite, value);
}

function applyRewrite(schema: GraphQLSchema, rewrite: FetchDataRewrite, value: ResultMap): void {
  if (rewrite.path.length === 0) return;
  const parent = rewrite.path.slice(0, -1);
  const { kind, value: fieldName } = parsePathElement(rewrite.path.at(-1)!);
  assert(kind === 'fieldName', () => `Unexpected fragment as last element of ${rewrite.path.join(',')}`);
  applyAtPath(schema, parent, value, rewriteAtPath(rewrite, fieldName));
}

function rewriteAtPath(rewrite: FetchDataRewrite, fieldAtPath: string): (value: ResultMap) => void {
  switch (rewrite.kind) {
    case 'ValueSetter':
      return (value) => {
        defineOwn(value, fieldAtPath);
        value[fieldAtPath] = rewrite.setValueTo;
      };
    case 'KeyRenamer':
      return (value) => {
        const atPath = getOwn(value, fieldAtPath);
        if (atPath) {
          defineOwn(value, rewrite.renameKeyTo);
          value[rewrite.renameKeyTo] = atPath;
          value[fieldAtPath] = undefined;
        }
      };
  }
}

function applyAtPath(schema: GraphQLSchema, path: string[], value: unknown, rewrite: (value: ResultMap) => void): void {
  if (Array.isArray(value)) {
    for (const element of value) applyAtPath(schema, path, element, rewrite);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (path.length === 0) {
    rewrite(value as ResultMap);
    return;
  }
  const [first, ...rest] = path;
  const { kind, value: element } = parsePathElement(first!);
  switch (kind) {
    case 'fieldName':
      applyAtPath(schema, rest, getOwn(value, element), rewrite);
      break;
    case 'typeName':
      if (isObjectOfType(schema, value as ResultMap, element, true)) applyAtPath(schema, rest, value, rewrite);
      break;
  }
}

function parsePathElement(element: string): { kind: 'typeName' | 'fieldName'; value: string } {
  return element.startsWith(FRAGMENT_PREFIX)
    ? { kind: 'typeName', value: element.slice(FRAGMENT_PREFIX.length) }
    : { kind: 'fieldName', value: element };
}

/** Whether a result object (by its `__typename`) satisfies a type condition. */
export function isObjectOfType(
  schema: GraphQLSchema,
  value: ResultMap,
  typeCondition: string,
  defaultOnUnknownObjectType = false,
): boolean {
  const typename = value.__typename as string | undefined;
  if (!typename) return defaultOnUnknownObjectType;
  if (typeCondition === typename) return true;
  const type = schema.getType(typename);
  if (!type) return false;
  const conditionalType = schema.getType(typeCondition);
  if (!conditionalType) return false;
  if (isAbstractType(conditionalType)) return (isObjectType(type) || isInterfaceType(type)) && schema.isSubType(conditionalType, type);
  return false;
}

/** Merges `source` into `target` in place, recursing into objects and into lists of the same length. */
export function deepMerge(target: unknown, source: unknown): unknown {
  if (source === undefined || source === null) return target;
  const into = target as ResultMap;
  const from = source as ResultMap;
  // for-in walks V8's cached key list where Object.keys would copy it into a new array at every call.
  for (const key in from) {
    if (!Object.prototype.hasOwnProperty.call(from, key) || from[key] === undefined) continue;
    defineOwn(into, key);
    const incoming = from[key];
    const existing = into[key];
    if (existing && isObject(incoming)) {
      deepMerge(existing, incoming);
    } else if (Array.isArray(incoming) && Array.isArray(existing) && incoming.length === existing.length) {
      const elements = existing as unknown[];
      for (let i = 0; i < incoming.length; i++) {
        const element: unknown = incoming[i];
        if (isObject(elements[i]) && isObject(element)) deepMerge(elements[i], element);
        else elements[i] = element;
      }
    } else {
      into[key] = incoming;
    }
  }
  return target;
}
