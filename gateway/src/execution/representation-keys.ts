import type { FetchNode, QueryPlanSelectionNode } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';
import { isObjectOfType } from './vendored/apollo-gateway.ts';

type ResultMap = Record<string, unknown>;

/**
 * The text key of a representation, the one {@link representationKey} gives, read straight from the entity: no
 * representation object is built for the hundreds of occurrences of the few distinct entities of a nested list.
 * Undefined where the entity's representation is anything but the plain case (a missing field, two fragments that
 * apply, a `__typename` that is not a non-empty string): the caller then builds the representation as stock does.
 */
export type RepresentationKeyReader = (entity: ResultMap) => string | undefined;

interface LeafField {
  responseName: string;
}

interface FlatFragment {
  typeCondition: string;
  fields: LeafField[];
  /** Whether the representation carries `__typename`: stock skips an entity whose representation has none. */
  selectsTypename: boolean;
}

const hasOwn = (value: object, key: string) => Object.prototype.hasOwnProperty.call(value, key);

/**
 * An injective text key for a representation, cheaper than JSON.stringify for the flat objects keys make: field names
 * cannot contain ':' and every value is one self-delimiting JSON token or a primitive without ','.
 */
export function representationKey(representation: ResultMap): string {
  let key = '';
  for (const name in representation) key += `${name}:${keyValue(representation[name])},`;
  return key;
}

function keyValue(value: unknown): string {
  return typeof value === 'string' || (typeof value === 'object' && value !== null) ? JSON.stringify(value) : String(value);
}

const readers = new WeakMap<FetchNode, RepresentationKeyReader | null>();

/**
 * The key reader of an entity fetch whose `requires` is what the planner makes for keys: inline fragments on a type,
 * each of leaf fields only, and no input rewrites (which would change the representation after it is read). Null for
 * any other fetch. Compiled once per fetch of a cached plan.
 */
export function representationKeyReader(schema: GraphQLSchema, fetch: FetchNode): RepresentationKeyReader | undefined {
  let reader = readers.get(fetch);
  if (reader === undefined) {
    const fragments = fetch.inputRewrites?.length ? undefined : flatFragments(fetch.requires);
    reader = fragments ? compile(schema, fragments) : null;
    readers.set(fetch, reader);
  }
  return reader ?? undefined;
}

function flatFragments(requires: QueryPlanSelectionNode[] | undefined): FlatFragment[] | undefined {
  if (!requires) return undefined;
  const fragments: FlatFragment[] = [];
  for (const selection of requires) {
    const isFragment = selection.kind === 'InlineFragment';
    if (!isFragment || !selection.typeCondition) return undefined;
    const fields: LeafField[] = [];
    for (const field of selection.selections) {
      const isField = field.kind === 'Field';
      if (!isField || field.selections) return undefined;
      const responseName = field.alias ?? field.name;
      // A field selected twice keeps its first place in the representation: left to the general path.
      if (fields.some((known) => known.responseName === responseName)) return undefined;
      fields.push({ responseName });
    }
    fragments.push({
      typeCondition: selection.typeCondition,
      fields,
      selectsTypename: fields.some(({ responseName }) => responseName === '__typename'),
    });
  }
  return fragments;
}

/**
 * For one entity, stock's `executeSelectionSet` over these fragments gives an object with the fields of each fragment
 * that applies (by `__typename`), in their order, or without a fragment's fields when one of them is missing. The
 * reader gives the key of that object when exactly one fragment applies and has all its fields.
 */
function compile(schema: GraphQLSchema, fragments: FlatFragment[]): RepresentationKeyReader {
  return (entity) => {
    let key: string | undefined;
    for (const fragment of fragments) {
      if (!isObjectOfType(schema, entity, fragment.typeCondition)) continue;
      if (key !== undefined || !fragment.selectsTypename) return undefined;
      key = '';
      for (const { responseName } of fragment.fields) {
        if (!hasOwn(entity, responseName)) return undefined;
        const value = entity[responseName];
        if (value === undefined) return undefined;
        key += `${responseName}:${keyValue(value)},`;
      }
    }
    // The representation's `__typename` is the entity's: it must be one stock would send.
    if (key === undefined || typeof entity.__typename !== 'string' || entity.__typename === '') return undefined;
    return key;
  };
}
