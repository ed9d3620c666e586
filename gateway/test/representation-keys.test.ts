import type { FetchNode, QueryPlanSelectionNode } from '@apollo/query-planner';
import { buildSchema, Kind } from 'graphql';
import { describe, expect, it } from 'vitest';
import { representationKeyReader, RepresentationKeys, type RepresentationKeyReader } from '../src/execution/representation-keys.ts';

const schema = buildSchema(`
  interface Node { id: ID! }
  type Product implements Node { id: ID! upc: String! sku: Int }
  type User implements Node { id: ID! }
  type Query { node: Node }
`);

const field = (name: string, alias?: string): QueryPlanSelectionNode => ({ kind: Kind.FIELD, name, ...(alias ? { alias } : {}) });
const on = (typeCondition: string, ...selections: QueryPlanSelectionNode[]): QueryPlanSelectionNode => ({
  kind: Kind.INLINE_FRAGMENT,
  typeCondition,
  selections,
});
const entityFetch = (requires: QueryPlanSelectionNode[], extra: Partial<FetchNode> = {}) =>
  ({ kind: 'Fetch', serviceName: 'products', requires, operation: '', operationKind: 'query', ...extra }) as unknown as FetchNode;

describe('reading a representation’s key straight from an entity', () => {
  const productKey = entityFetch([on('Product', field('__typename'), field('upc'), field('sku'))]);
  /** The keys of one fetch, as the executor keeps them, shared by every reader of a test. */
  const keys = new RepresentationKeys();
  const representationKey = (representation: Record<string, unknown>) => keys.of(representation);
  const reading = (reader: RepresentationKeyReader) => (entity: Record<string, unknown>) => reader(entity, keys);
  const read = reading(representationKeyReader(schema, productKey)!);

  it('gives the key of the representation stock would send, fields in the order the plan requires them', () => {
    const entity = { sku: 7, name: 'Table', upc: '1', __typename: 'Product' };
    expect(read(entity)).toBe(representationKey({ __typename: 'Product', upc: '1', sku: 7 }));
  });

  it('tells apart what differs only in type or in punctuation, and matches what is equal', () => {
    const product = (upc: unknown, sku: unknown = 1) => ({ __typename: 'Product', upc, sku });
    expect(read(product('1'))).not.toBe(read(product(1)));
    expect(read(product('a,sku:2', 1))).not.toBe(read(product('a', '2,')));
    expect(read(product('1', null))).not.toBe(read(product('1', 'null')));
    expect(read(product('1'))).toBe(read({ ...product('1'), reviews: [] }));
    expect(read(product({ sku: 1 }))).not.toBe(read(product('{"sku":1}')));
    expect(read(product({ sku: 1 }))).toBe(read(product({ sku: 1 })));
  });

  it('leaves to the general path an entity whose representation would lack a field, a type or its __typename', () => {
    expect(read({ __typename: 'Product', upc: '1' })).toBeUndefined();
    expect(read({ __typename: 'Product', upc: '1', sku: undefined })).toBeUndefined();
    expect(read({ __typename: 'User', upc: '1', sku: 1 })).toBeUndefined();
    expect(read({ upc: '1', sku: 1 })).toBeUndefined();
    const withoutTypename = reading(representationKeyReader(schema, entityFetch([on('Product', field('upc'))]))!);
    expect(withoutTypename({ __typename: 'Product', upc: '1' })).toBeUndefined();
  });

  it('leaves to the general path an entity two fragments apply to', () => {
    const twice = reading(
      representationKeyReader(schema, entityFetch([on('Node', field('__typename'), field('id')), on('Product', field('upc'))]))!,
    );
    expect(twice({ __typename: 'Product', id: '1', upc: '1' })).toBeUndefined();
    expect(twice({ __typename: 'User', id: '1' })).toBe(representationKey({ __typename: 'User', id: '1' }));
  });

  it('reads keys only for the plain requires the planner makes for keys, without input rewrites', () => {
    expect(representationKeyReader(schema, entityFetch([field('__typename'), field('upc')]))).toBeUndefined();
    expect(
      representationKeyReader(schema, entityFetch([on('Product', field('__typename'), { ...field('owner'), selections: [field('id')] })])),
    ).toBeUndefined();
    expect(representationKeyReader(schema, entityFetch([on('Product', field('__typename'), field('upc'), field('upc'))]))).toBeUndefined();
    const rewritten = entityFetch([on('Product', field('__typename'), field('upc'))], {
      inputRewrites: [{ kind: 'ValueSetter', path: ['... on Product', '__typename'], setValueTo: 'Product' }],
    });
    expect(representationKeyReader(schema, rewritten)).toBeUndefined();
  });

  it('reads an aliased field under its alias, as the representation names it', () => {
    const aliased = reading(representationKeyReader(schema, entityFetch([on('Product', field('__typename'), field('upc', 'code'))]))!);
    expect(aliased({ __typename: 'Product', code: 'x', upc: 'y' })).toBe(representationKey({ __typename: 'Product', code: 'x' }));
  });
});
