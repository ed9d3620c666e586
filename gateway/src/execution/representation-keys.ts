import type { FetchNode, QueryPlanSelectionNode } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';
import { isObjectOfType } from './vendored/apollo-gateway.ts';

type ResultMap = Record<string, unknown>;

/**
 * The key of a representation, the one {@link RepresentationKeys.of} gives, read straight from the entity: no
 * representation object is built for the hundreds of occurrences of the few distinct entities of a nested list.
 * Undefined where the entity's representation is anything but the plain case (a missing field, two fragments that
 * apply, a `__typename` that is not a non-empty string): the caller then builds the representation as stock does.
 */
export type RepresentationKeyReader = (entity: ResultMap, keys: RepresentationKeys) => RepresentationKey | undefined;

/** A node of the trie of {@link RepresentationKeys}: by field name, then by value. */
type KeyNode = Map<unknown, KeyNode>;

/** The key of a representation: one object per distinct representation, to look up by identity. */
export type RepresentationKey = object;

/** Where a value that is an object (a composite key's part) continues, by its JSON text, apart from strings. */
const OBJECT_VALUE = Symbol('object value');

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
 * The keys of the representations of one fetch: equal representations (the same fields in the same order, each with the
 * same value, of the same type) get the same key, others not. A trie of the fields' names and values, so that finding
 * a key already made builds no text and allocates nothing: a nested list repeats a few entities hundreds of times.
 */
export class RepresentationKeys {
  private readonly root: KeyNode = new Map();

  of(representation: ResultMap): RepresentationKey {
    let node = this.root;
    for (const name in representation) node = this.next(node, name, representation[name]);
    return node;
  }

  /** The node after `node` for a field with this name and value; start from {@link start}. */
  next(node: KeyNode, name: string, value: unknown): KeyNode {
    const byValue = child(node, name);
    return typeof value === 'object' && value !== null ? child(child(byValue, OBJECT_VALUE), JSON.stringify(value)) : child(byValue, value);
  }

  get start(): KeyNode {
    return this.root;
  }
}

function child(node: KeyNode, key: unknown): KeyNode {
  let next = node.get(key);
  if (next === undefined) {
    next = new Map();
    node.set(key, next);
  }
  return next;
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
  return (entity, keys) => {
    let key: KeyNode | undefined;
    for (const fragment of fragments) {
      if (!isObjectOfType(schema, entity, fragment.typeCondition)) continue;
      if (key !== undefined || !fragment.selectsTypename) return undefined;
      key = keys.start;
      for (const { responseName } of fragment.fields) {
        if (!hasOwn(entity, responseName)) return undefined;
        const value = entity[responseName];
        if (value === undefined) return undefined;
        key = keys.next(key, responseName, value);
      }
    }
    // The representation's `__typename` is the entity's: it must be one stock would send.
    if (key === undefined || typeof entity.__typename !== 'string' || entity.__typename === '') return undefined;
    return key;
  };
}
