import { composeServices } from '@apollo/composition';
import { parse, print, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { authorizeOperation, type AuthorizationOutcome, type Grants } from './filter.ts';
import { AuthorizationRules, UnknownPolicyError } from './rules.ts';

const BLOG = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@authenticated", "@requiresScopes", "@policy"])

  type Query {
    publicPosts: [Post!]!
    me: User @authenticated
    node(id: ID!): Node
    search(term: String!): [SearchResult!]!
    adminReport: String @requiresScopes(scopes: [["admin"]])
    "read and write, or admin"
    auditLog: String @requiresScopes(scopes: [["read", "write"], ["admin"]])
    ownerOnly: Secret
    humansOnly: String @policy(policies: [["human"]])
    level: Level
  }

  type Mutation {
    publish(title: String!): Post! @requiresScopes(scopes: [["write"]])
    like(id: ID!): Post @authenticated
  }

  type Subscription {
    postPublished: Post! @authenticated
    postLiked: Post
  }

  interface Node {
    id: ID!
    nickname: String
  }

  type Post implements Node @key(fields: "id") {
    id: ID!
    nickname: String
    title: String!
    draftNotes: String @requiresScopes(scopes: [["write"]])
    author: User
  }

  type User implements Node @key(fields: "id") {
    id: ID!
    nickname: String @authenticated
    name: String!
    email: String @authenticated
    phone: Phone
  }

  scalar Phone @authenticated

  union SearchResult = Post | User

  type Secret @requiresScopes(scopes: [["owner"]]) {
    value: String
  }

  enum Level @authenticated {
    LOW
    HIGH
  }
`;

function supergraphOf(sdl: string): string {
  const result = composeServices([{ name: 'blog', url: 'http://blog.invalid/graphql', typeDefs: parse(sdl) }]);
  if (!result.supergraphSdl) throw new Error(`composition failed: ${result.errors?.map((error) => error.message).join('\n')}`);
  return result.supergraphSdl;
}

const rules = AuthorizationRules.read(supergraphOf(BLOG), new Set(['human']));

const anonymous: Grants = { authenticated: false, scopes: new Set(), policy: () => false };
const withScopes = (...scopes: string[]): Grants => ({ authenticated: true, scopes: new Set(scopes), policy: () => false });
const viewer = withScopes('read');
const member = withScopes('read', 'write');
const human: Grants = { ...viewer, policy: (name) => name === 'human' };

function authorize(grants: Grants, query: string | DocumentNode, variables: Record<string, unknown> = {}): AuthorizationOutcome {
  return authorizeOperation({
    rules,
    document: typeof query === 'string' ? parse(query) : query,
    operationName: undefined,
    variables,
    grants,
  });
}

/** What is left to plan, printed as the gateway sends it to the planner, and each error as a client reads it. */
function filtered(outcome: AuthorizationOutcome) {
  if (outcome.kind !== 'filtered') throw new Error(`expected a filtered operation, got ${outcome.kind}`);
  return { query: print(outcome.document), errors: outcome.errors.map((error) => [error.extensions.code, error.path, error.message]) };
}

const query = (text: string) => print(parse(text));

describe('authorizing an operation before it is planned', () => {
  it('lets an operation through untouched when the caller may see everything in it', () => {
    expect(authorize(member, '{ publicPosts { title draftNotes author { email } } me { name } }')).toEqual({ kind: 'allowed' });
  });

  it('removes a root field an anonymous caller may not see, with UNAUTHENTICATED at its path, and keeps the rest', () => {
    expect(filtered(authorize(anonymous, '{ publicPosts { title } me { name } }'))).toEqual({
      query: query('{ publicPosts { title } }'),
      errors: [['UNAUTHENTICATED', ['me'], 'Authentication required to use Query.me']],
    });
  });

  it('removes nested fields at their own paths, FORBIDDEN for a signed-in caller short of a scope', () => {
    expect(filtered(authorize(viewer, '{ publicPosts { title draftNotes author { name email } } }'))).toEqual({
      query: query('{ publicPosts { title author { name email } } }'),
      errors: [['FORBIDDEN', ['publicPosts', 'draftNotes'], 'Not allowed to use Post.draftNotes: it requires scope write']],
    });
    expect(filtered(authorize(anonymous, '{ publicPosts { title draftNotes author { name email } } }')).errors).toEqual([
      ['UNAUTHENTICATED', ['publicPosts', 'draftNotes'], 'Authentication required to use Post.draftNotes'],
      ['UNAUTHENTICATED', ['publicPosts', 'author', 'email'], 'Authentication required to use User.email'],
    ]);
  });

  it('removes a field none of whose selections is left, and reports only the selections', () => {
    expect(filtered(authorize(anonymous, '{ publicPosts { title author { email } } }'))).toEqual({
      query: query('{ publicPosts { title } }'),
      errors: [['UNAUTHENTICATED', ['publicPosts', 'author', 'email'], 'Authentication required to use User.email']],
    });
  });

  it('names each error by the alias the client chose', () => {
    expect(filtered(authorize(anonymous, '{ posts: publicPosts { heading: title } whoAmI: me { name } }'))).toEqual({
      query: query('{ posts: publicPosts { heading: title } }'),
      errors: [['UNAUTHENTICATED', ['whoAmI'], 'Authentication required to use Query.me']],
    });
  });

  it('filters a fragment spread twice once, and reports its removal at both places', () => {
    const outcome = filtered(
      authorize(
        viewer,
        'query { publicPosts { ...PostParts } latest: publicPosts { id ...PostParts } } fragment PostParts on Post { title draftNotes }',
      ),
    );

    expect(outcome.query).toBe(
      query('{ publicPosts { ...PostParts } latest: publicPosts { id ...PostParts } } fragment PostParts on Post { title }'),
    );
    expect(outcome.errors.map(([, path]) => path)).toEqual([
      ['publicPosts', 'draftNotes'],
      ['latest', 'draftNotes'],
    ]);
  });

  it('drops a spread, and its fragment, when nothing of the fragment is left', () => {
    expect(filtered(authorize(viewer, '{ publicPosts { title ...Notes } } fragment Notes on Post { draftNotes }')).query).toBe(
      query('{ publicPosts { title } }'),
    );
  });

  it('filters inline fragments on an interface, each type its own rules', () => {
    expect(filtered(authorize(anonymous, '{ node(id: "1") { id ... on User { name email } ... on Post { title draftNotes } } }'))).toEqual({
      query: query('{ node(id: "1") { id ... on User { name } ... on Post { title } } }'),
      errors: [
        ['UNAUTHENTICATED', ['node', 'email'], 'Authentication required to use User.email'],
        ['UNAUTHENTICATED', ['node', 'draftNotes'], 'Authentication required to use Post.draftNotes'],
      ],
    });
  });

  it('asks of an interface field what any implementation asks of it, since any may come back', () => {
    expect(filtered(authorize(anonymous, '{ node(id: "1") { id nickname } }')).errors).toEqual([
      ['UNAUTHENTICATED', ['node', 'nickname'], 'Authentication required to use Node.nickname'],
    ]);
    expect(authorize(viewer, '{ node(id: "1") { id nickname } }')).toEqual({ kind: 'allowed' });
  });

  it('filters the members of a union', () => {
    expect(filtered(authorize(anonymous, '{ search(term: "x") { __typename ... on User { name email } ... on Post { title } } }'))).toEqual(
      {
        query: query('{ search(term: "x") { __typename ... on User { name } ... on Post { title } } }'),
        errors: [['UNAUTHENTICATED', ['search', 'email'], 'Authentication required to use User.email']],
      },
    );
  });

  it('applies a type’s directives to every field returning it: objects and enums', () => {
    expect(filtered(authorize(withScopes('read', 'write', 'admin'), '{ adminReport ownerOnly { value } }')).errors).toEqual([
      ['FORBIDDEN', ['ownerOnly'], 'Not allowed to use Query.ownerOnly: it requires scope owner'],
    ]);
    expect(authorize(withScopes('owner'), '{ ownerOnly { value } }')).toEqual({ kind: 'allowed' });
    expect(filtered(authorize(anonymous, '{ level publicPosts { id } }')).errors).toEqual([
      ['UNAUTHENTICATED', ['level'], 'Authentication required to use Query.level'],
    ]);
  });

  it('applies a scalar’s directives to the fields returning it', () => {
    expect(filtered(authorize(anonymous, '{ publicPosts { author { name phone } } }')).errors).toEqual([
      ['UNAUTHENTICATED', ['publicPosts', 'author', 'phone'], 'Authentication required to use User.phone'],
    ]);
  });

  it('reads @requiresScopes as any one of its lists, each list in full', () => {
    const auditLog = '{ auditLog publicPosts { id } }';
    expect(authorize(withScopes('read', 'write'), auditLog)).toEqual({ kind: 'allowed' });
    expect(authorize(withScopes('admin'), auditLog)).toEqual({ kind: 'allowed' });
    for (const grants of [withScopes('read'), withScopes('write'), withScopes('owner')]) {
      expect(filtered(authorize(grants, auditLog)).errors).toEqual([
        ['FORBIDDEN', ['auditLog'], 'Not allowed to use Query.auditLog: it requires scope read and write or admin'],
      ]);
    }
  });

  it('asks the named policy, refusing a signed-in caller it does not allow as FORBIDDEN', () => {
    expect(authorize(human, '{ humansOnly }')).toEqual({ kind: 'allowed' });
    const refused = authorize(viewer, '{ humansOnly publicPosts { id } }');
    expect(filtered(refused).errors).toEqual([
      ['FORBIDDEN', ['humansOnly'], 'Not allowed to use Query.humansOnly: it requires policy human'],
    ]);
  });

  it('does not judge what @skip or @include leave out with the request’s variables, and drops unused variables', () => {
    const document = parse(
      'query ($withMe: Boolean!, $skipPosts: Boolean = false) { me @include(if: $withMe) { name } publicPosts @skip(if: $skipPosts) { id } }',
    );

    expect(filtered(authorize(anonymous, document, { withMe: false }))).toEqual({
      query: query('query ($skipPosts: Boolean = false) { publicPosts @skip(if: $skipPosts) { id } }'),
      errors: [],
    });
    expect(filtered(authorize(anonymous, document, { withMe: true })).errors).toEqual([
      ['UNAUTHENTICATED', ['me'], 'Authentication required to use Query.me'],
    ]);
  });

  it('keeps the variables what is left still uses, and drops the others', () => {
    expect(
      filtered(authorize(viewer, 'mutation ($title: String!, $id: ID!) { publish(title: $title) { id } like(id: $id) { id } }')).query,
    ).toBe(query('mutation ($id: ID!) { like(id: $id) { id } }'));
  });

  it('refuses an operation with nothing left: no data when a refused root field is non-null, nulls otherwise', () => {
    expect(authorize(viewer, 'mutation { publish(title: "x") { id } }')).toEqual({
      kind: 'refused',
      data: null,
      errors: [expect.objectContaining({ path: ['publish'], extensions: { code: 'FORBIDDEN' } })],
    });
    expect(authorize(anonymous, '{ me { name } adminReport }')).toMatchObject({ kind: 'refused', data: { me: null, adminReport: null } });
    expect(authorize(anonymous, '{ publicPosts { author { email } } }')).toMatchObject({ kind: 'refused', data: null });
  });

  it('authorizes subscriptions like any other operation', () => {
    expect(authorize(anonymous, 'subscription { postPublished { title } }')).toMatchObject({ kind: 'refused', data: null });
    expect(filtered(authorize(anonymous, 'subscription { postLiked { title author { email } } }'))).toEqual({
      query: query('subscription { postLiked { title } }'),
      errors: [['UNAUTHENTICATED', ['postLiked', 'author', 'email'], 'Authentication required to use User.email']],
    });
  });

  it('picks the operation by name in a document holding several', () => {
    const document = parse('query Mine { me { name } } query Posts { publicPosts { id } }');

    expect(authorizeOperation({ rules, document, operationName: 'Posts', variables: {}, grants: anonymous })).toEqual({ kind: 'allowed' });
    expect(authorizeOperation({ rules, document, operationName: 'Mine', variables: {}, grants: anonymous }).kind).toBe('refused');
  });
});

describe('reading the authorization directives of a supergraph', () => {
  it('refuses, naming it and where, a policy the gateway does not know', () => {
    const supergraph = supergraphOf(BLOG.replace('@policy(policies: [["human"]])', '@policy(policies: [["human", "on-call"]])'));

    expect(() => AuthorizationRules.read(supergraph, new Set(['human']))).toThrow(UnknownPolicyError);
    expect(() => AuthorizationRules.read(supergraph, new Set(['human']))).toThrow(/"on-call" \(on Query\.humansOnly\)/);
  });

  it('lets everything through a supergraph without authorization directives', () => {
    const plain = AuthorizationRules.read(supergraphOf('type Query { hello: String }'), new Set());

    expect(plain.isEmpty).toBe(true);
    expect(
      authorizeOperation({ rules: plain, document: parse('{ hello }'), operationName: undefined, variables: {}, grants: anonymous }),
    ).toEqual({
      kind: 'allowed',
    });
  });
});
