import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FetchDataRewrite } from '@apollo/query-planner';
import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  applyRewrites,
  deepMerge,
  HEALTH_CHECK,
  INCOMING_OPERATION,
  isObjectOfType,
  VENDORED_APOLLO_GATEWAY_VERSION,
} from '../src/execution/vendored/apollo-gateway.ts';

/**
 * The helpers the gateway copied from @apollo/gateway are pinned to the version they were copied from, and checked
 * against the installed originals: an upgrade of @apollo/gateway fails here until they are copied again.
 */
const require = createRequire(import.meta.url);
const gatewayDirectory = dirname(dirname(require.resolve('@apollo/gateway')));
const installed = JSON.parse(readFileSync(join(gatewayDirectory, 'package.json'), 'utf8')) as { version: string };
// Only this test reads @apollo/gateway's internals, to compare the copies with them.
const stock = {
  ...(require(join(gatewayDirectory, 'dist/dataRewrites.js')) as Pick<
    typeof import('../src/execution/vendored/apollo-gateway.ts'),
    'applyRewrites' | 'isObjectOfType'
  >),
  ...(require(join(gatewayDirectory, 'dist/utilities/deepMerge.js')) as Pick<
    typeof import('../src/execution/vendored/apollo-gateway.ts'),
    'deepMerge'
  >),
  ...(require(join(gatewayDirectory, 'dist/datasources/types.js')) as { GraphQLDataSourceRequestKind: Record<string, string> }),
};

const schema = buildSchema(`
  interface Node { id: ID! }
  interface Named { name: String }
  type User implements Node & Named { id: ID! name: String }
  type Workflow implements Node { id: ID! name: String }
  type Schedule { id: ID! }
  union Owner = User | Workflow
  type Query { node: Node }
`);

/** A shape of data and its copy, one for each implementation, so that both start from the same input. */
const twice = <T>(value: T): [T, T] => [structuredClone(value), structuredClone(value)];

describe('the helpers copied from @apollo/gateway', () => {
  it(`were copied from the installed version (${VENDORED_APOLLO_GATEWAY_VERSION}); copy them again after an upgrade`, () => {
    expect(installed.version).toBe(VENDORED_APOLLO_GATEWAY_VERSION);
  });

  it('name the data source request kinds as stock’s enum does', () => {
    expect(INCOMING_OPERATION).toBe(stock.GraphQLDataSourceRequestKind.INCOMING_OPERATION);
    expect(HEALTH_CHECK).toBe(stock.GraphQLDataSourceRequestKind.HEALTH_CHECK);
  });

  it.each([
    ['the same type', { __typename: 'User' }, 'User'],
    ['an interface it implements', { __typename: 'User' }, 'Node'],
    ['an interface it does not implement', { __typename: 'Workflow' }, 'Named'],
    ['a union it belongs to', { __typename: 'Workflow' }, 'Owner'],
    ['a union it does not belong to', { __typename: 'Schedule' }, 'Owner'],
    ['another object type', { __typename: 'User' }, 'Workflow'],
    ['an unknown type name', { __typename: 'Ghost' }, 'Node'],
    ['an unknown condition', { __typename: 'User' }, 'Ghost'],
    ['no type name', { id: '1' }, 'User'],
  ])('decide type conditions alike: %s', (_case, value, condition) => {
    expect(isObjectOfType(schema, value, condition)).toBe(stock.isObjectOfType(schema, value, condition));
    expect(isObjectOfType(schema, value, condition, true)).toBe(stock.isObjectOfType(schema, value, condition, true));
  });

  const rewrites: [string, FetchDataRewrite[], Record<string, unknown>][] = [
    [
      'a value set on one type of a list',
      [{ kind: 'ValueSetter', path: ['... on User', '__typename'], setValueTo: 'Named' }],
      { node: null, list: [{ __typename: 'User', id: '1' }, { __typename: 'Workflow', id: '2' }, { id: '3' }] },
    ],
    [
      'keys renamed under a field, on objects and lists',
      [{ kind: 'KeyRenamer', path: ['node', 'name__alias_0'], renameKeyTo: 'name' }],
      { node: [{ name__alias_0: 'a' }, { name__alias_0: null }, { other: 1 }] },
    ],
    ['a rename on a path whose field is absent', [{ kind: 'KeyRenamer', path: ['missing', 'x'], renameKeyTo: 'y' }], { node: { x: 1 } }],
    [
      'keys inherited from Object.prototype, which must not be written through',
      [
        { kind: 'ValueSetter', path: ['constructor'], setValueTo: 'set' },
        { kind: 'KeyRenamer', path: ['alias'], renameKeyTo: 'toString' },
      ],
      { alias: 'renamed' },
    ],
    ['an empty path', [{ kind: 'ValueSetter', path: [], setValueTo: 1 }], { a: 1 }],
  ];

  it.each(rewrites)('apply rewrites alike: %s', (_case, fetchRewrites, data) => {
    const [ours, theirs] = twice(data);
    applyRewrites(schema, fetchRewrites, ours);
    stock.applyRewrites(schema, fetchRewrites, theirs);
    expect(ours).toEqual(theirs);
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
  });

  const merges: [string, unknown, unknown][] = [
    ['nested objects', { me: { id: '1', tenant: { id: 't' } } }, { me: { name: 'Ada', tenant: { name: 'Acme' } } }],
    ['lists of the same length, element by element', { list: [{ id: 1 }, 2, null] }, { list: [{ name: 'a' }, 3, { id: 9 }] }],
    ['lists of different lengths, replaced', { list: [{ id: 1, kept: true }] }, { list: [{ id: 2 }, { id: 3 }] }],
    ['undefined values, skipped', { a: 1, b: 2 }, { a: undefined, b: null }],
    ['a null source', { a: 1 }, null],
    ['a null target field', { a: null }, { a: { b: 1 } }],
    ['keys inherited from Object.prototype', { a: 1 }, { constructor: 'own', toString: { nested: true } }],
  ];

  it.each(merges)('deep-merge alike: %s', (_case, target, source) => {
    const [ours, theirs] = twice(target);
    expect(deepMerge(ours, structuredClone(source))).toEqual(stock.deepMerge(theirs, structuredClone(source)));
    expect(ours).toEqual(theirs);
  });
});
