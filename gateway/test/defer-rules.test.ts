import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DeferDirectiveRule } from '../src/execution/defer-rules.ts';

const schema = buildSchema(`
  directive @defer(label: String, if: Boolean! = true) on FRAGMENT_SPREAD | INLINE_FRAGMENT
  type Query { me: User }
  type Mutation { rename(name: String!): User }
  type Subscription { renamed: User }
  type User { id: ID! name: String }
`);

const errorsOf = (source: string) => validate(schema, parse(source), [DeferDirectiveRule]).map((error) => error.message);

describe('the @defer rules graphql 16 lacks', () => {
  it('accepts labels written in the document, each once, and @defer below the root of a mutation', () => {
    expect(
      errorsOf(
        '{ me { ... @defer(label: "a") { id } ... on User @defer(label: "b") { name } } } mutation { rename(name: "x") { ... @defer { id } } }',
      ),
    ).toEqual([]);
  });

  it('refuses a label given as a variable, and one used twice across the document', () => {
    expect(
      errorsOf(
        'query ($l: String) { me { ... @defer(label: $l) { id } ...F } } fragment F on User { ... @defer(label: "a") { id } ... @defer(label: "a") { name } }',
      ),
    ).toEqual(['The label of @defer must be a string written in the document, not a variable', 'Two @defer cannot share the label "a"']);
  });

  it('refuses @defer on the root of a mutation or a subscription, inline or in a fragment', () => {
    expect(
      errorsOf(
        'mutation { ... @defer { rename(name: "x") { id } } } subscription { ...R @defer } fragment R on Subscription { renamed { id } }',
      ),
    ).toEqual([
      '@defer cannot be used on the root mutation type "Mutation"',
      '@defer cannot be used on the root subscription type "Subscription"',
    ]);
  });
});
