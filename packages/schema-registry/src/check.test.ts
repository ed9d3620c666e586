import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { checkSchema, type CheckReport } from './check.ts';
import { composeSupergraph } from './composition.ts';
import { SchemaRegistry } from './registry.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@shareable"])';

const ACCOUNTS = `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ID!
  "Display name."
  name: String!
  "Contact email."
  email: String!
  "Old contact field."
  phone: String @deprecated(reason: "Use email")
  "Account standing."
  status: Status!
}
"Account standing."
enum Status {
  "In good standing."
  ACTIVE
  "Locked by an administrator."
  SUSPENDED
}
type Query {
  "A user by id."
  user(id: ID!): User
  "Users, newest first."
  users(first: Int): [User!]!
}
`;

const APP_OPERATIONS = `
query Profile($id: ID!) { user(id: $id) { id name email status } }
query Directory { users(first: 10) { id name } }
`;

interface Fixture {
  /** The registry's folder: `versions/` and `published/`. */
  registryDirectory: string;
  /** Publishes these subgraphs as the registry's current version. */
  publish(subgraphs: Record<string, string>): Promise<void>;
  /** Checks these subgraphs as the proposed change; `pendingPublication` is the note's YAML, if any. */
  check(
    subgraphs: Record<string, string>,
    acknowledgements?: string,
    options?: { requirePublished?: boolean; pendingPublication?: string },
  ): Promise<CheckReport>;
}

const scratch: { remove(): Promise<void> }[] = [];
afterEach(async () => {
  for (const directory of scratch.splice(0)) await directory.remove();
});

async function fixture(operations = APP_OPERATIONS): Promise<Fixture> {
  const directory = await createTempDirectory('schema-check');
  scratch.push(directory);
  const root = directory.path;
  await mkdir(join(root, 'clients'), { recursive: true });
  await writeFile(join(root, 'clients/app.graphql'), operations);
  const registry = new SchemaRegistry(join(root, 'registry'));
  const sources = (subgraphs: Record<string, string>) =>
    Object.entries(subgraphs).map(([name, sdl], index) => ({ name, url: `http://127.0.0.1:${4001 + index}/graphql`, sdl }));
  return {
    registryDirectory: registry.directory,
    async publish(subgraphs) {
      const list = sources(subgraphs);
      await registry.publish({ subgraphs: list, supergraphSdl: composeSupergraph(list), changes: [] });
    },
    async check(subgraphs, acknowledgements, options = {}) {
      const lines = ['subgraphs:'];
      for (const { name, url } of sources(subgraphs)) {
        await writeFile(join(root, `${name}.graphql`), subgraphs[name]!);
        lines.push(`  ${name}:`, `    routing_url: ${url}`, `    schema:`, `      file: ./${name}.graphql`);
      }
      await writeFile(join(root, 'supergraph.yaml'), lines.join('\n'));
      if (acknowledgements) await writeFile(join(root, 'acknowledged.yaml'), acknowledgements);
      if (options.pendingPublication) await writeFile(join(root, 'pending-publication.yaml'), options.pendingPublication);
      return checkSchema({
        supergraphConfig: join(root, 'supergraph.yaml'),
        registryDirectory: registry.directory,
        operationDirectories: [join(root, 'clients')],
        acknowledgementsFile: join(root, 'acknowledged.yaml'),
        pendingPublicationFile: join(root, 'pending-publication.yaml'),
        requirePublished: options.requirePublished,
      });
    },
  };
}

const breakingChanges = (report: CheckReport) => report.changes.filter((change) => change.severity === 'breaking');

describe('schema check', () => {
  it('fails on a removed field, naming the field and every client operation that uses it', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: ACCOUNTS.replace('  "Contact email."\n  email: String!\n', '') });

    expect(report.ok).toBe(false);
    expect(breakingChanges(report)).toMatchObject([
      { type: 'FIELD_REMOVED', path: 'User.email', subgraphs: ['accounts'], affectedOperations: ['Profile'] },
    ]);
    expect(report.operations.failures).toEqual([
      { operation: 'Profile', source: expect.stringMatching(/app\.graphql$/), errors: ['Cannot query field "email" on type "User".'] },
    ]);
    expect(report.failures).toEqual(['1 breaking change(s) not acknowledged', '1 client operation(s) no longer validate']);
  });

  it('passes a field addition and classifies it as safe', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({
      accounts: ACCOUNTS.replace(
        '  "Account standing."\n  status',
        '  "Preferred name."\n  nickname: String\n  "Account standing."\n  status',
      ),
    });

    expect(report.ok).toBe(true);
    expect(report.changes.find((change) => change.type === 'FIELD_ADDED')).toMatchObject({ severity: 'safe', path: 'User.nickname' });
    expect(breakingChanges(report)).toEqual([]);
  });

  it('fails when a required argument is added to a field clients call', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: ACCOUNTS.replace('users(first: Int)', 'users(first: Int, tenant: ID!)') });

    expect(breakingChanges(report)).toMatchObject([
      { type: 'FIELD_ARGUMENT_ADDED', path: 'Query.users.tenant', affectedOperations: ['Directory'] },
    ]);
    expect(report.operations.failures.map((failure) => failure.operation)).toEqual(['Directory']);
  });

  it('treats an output field that may now be null as breaking, and an argument made required as breaking', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const nullable = await registry.check({ accounts: ACCOUNTS.replace('name: String!', 'name: String') });
    expect(breakingChanges(nullable)).toMatchObject([{ type: 'FIELD_TYPE_CHANGED', path: 'User.name' }]);

    const required = await registry.check({ accounts: ACCOUNTS.replace('users(first: Int)', 'users(first: Int!)') });
    expect(breakingChanges(required)).toMatchObject([{ type: 'FIELD_ARGUMENT_TYPE_CHANGED', path: 'Query.users.first' }]);
  });

  it('treats an output field that can no longer be null as safe', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: ACCOUNTS.replace('user(id: ID!): User\n', 'user(id: ID!): User!\n') });
    expect(report.ok).toBe(true);
    expect(report.changes).toMatchObject([{ type: 'FIELD_TYPE_CHANGED', path: 'Query.user', severity: 'safe' }]);
  });

  it('fails on a removed enum value, which clients may receive or send', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: ACCOUNTS.replace('  "Locked by an administrator."\n  SUSPENDED\n', '') });
    expect(breakingChanges(report)).toMatchObject([
      { type: 'ENUM_VALUE_REMOVED', path: 'Status.SUSPENDED', affectedOperations: ['Profile'] },
    ]);
  });

  it('treats removing a type as breaking, which graphql-inspector downgrades as if it had been deprecated', async () => {
    const registry = await fixture('query Directory { users(first: 10) { id name } }');
    await registry.publish({ accounts: ACCOUNTS });
    const withoutStatus = ACCOUNTS.replace('  "Account standing."\n  status: Status!\n', '').replace(
      /"Account standing."\nenum Status \{[^}]*\}\n/,
      '',
    );
    const report = await registry.check({ accounts: withoutStatus });

    expect(report.changes.find((change) => change.type === 'TYPE_REMOVED')).toMatchObject({ path: 'Status', severity: 'breaking' });
  });

  it('counts removing a deprecated field as dangerous, yet fails when a known operation still selects it', async () => {
    const registry = await fixture(`${APP_OPERATIONS}\nquery LegacyContact($id: ID!) { user(id: $id) { phone } }\n`);
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({
      accounts: ACCOUNTS.replace('  "Old contact field."\n  phone: String @deprecated(reason: "Use email")\n', ''),
    });

    expect(breakingChanges(report)).toEqual([]);
    expect(report.changes).toMatchObject([
      { type: 'FIELD_REMOVED', path: 'User.phone', severity: 'dangerous', affectedOperations: ['LegacyContact'] },
    ]);
    expect(report.operations.failures).toMatchObject([
      { operation: 'LegacyContact', errors: ['Cannot query field "phone" on type "User".'] },
    ]);
    expect(report.ok).toBe(false);
  });

  it('reports a composition conflict between two subgraphs with both names, the field and the reason', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const billing = `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ID!
  "Display name, as printed on invoices."
  name: Int!
}
`;
    const report = await registry.check({ accounts: ACCOUNTS, billing });

    expect(report.ok).toBe(false);
    expect(report.composition.ok).toBe(false);
    expect(report.composition.problems).toContainEqual(
      expect.objectContaining({
        subgraphs: ['accounts', 'billing'],
        coordinate: 'User.name',
        code: expect.any(String),
        message: expect.stringContaining('User.name'),
      }),
    );
    expect(report.failures[0]).toMatch(/^composition failed/);
  });

  it('names every subgraph of a conflict, hyphenated names included, and not a subgraph for its coordinate', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const userWithId = (type: string) => `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ${type}
}
`;
    const report = await registry.check({ accounts: ACCOUNTS, 'token-mgr': userWithId('ID!'), 'session-mgr': userWithId('Int!') });

    expect(report.composition.problems).toContainEqual(
      expect.objectContaining({ subgraphs: ['accounts', 'session-mgr', 'token-mgr'], coordinate: 'User.id' }),
    );
  });

  it('reports every subgraph whose schema does not parse, with the line and column', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({
      accounts: ACCOUNTS.replace('  "Display name."\n  name: String!', '  "Display name."\n  nombreÑ: String!'),
      billing: `${LINK}\ntype Query { x: Int`,
    });

    expect(report.composition.problems).toEqual([
      { code: 'INVALID_GRAPHQL', message: 'Syntax Error: Unexpected character: U+00D1. (line 7, column 9)', subgraphs: ['accounts'] },
      { code: 'INVALID_GRAPHQL', message: 'Syntax Error: Expected Name, found <EOF>. (line 2, column 20)', subgraphs: ['billing'] },
    ]);
  });

  it('is not confused by federation directives: a new subgraph extending an entity adds only its fields', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const reviews = `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ID!
  "Reviews the user wrote."
  reviewCount: Int! @shareable
}
`;
    const report = await registry.check({ accounts: ACCOUNTS, reviews });

    expect(report.ok).toBe(true);
    expect(report.subgraphs).toEqual([
      { name: 'accounts', status: 'unchanged' },
      { name: 'reviews', status: 'added' },
    ]);
    expect(report.changes.map(({ type, path, severity, subgraphs }) => ({ type, path, severity, subgraphs }))).toEqual([
      { type: 'FIELD_ADDED', path: 'User.reviewCount', severity: 'safe', subgraphs: ['reviews'] },
      { type: 'FIELD_DESCRIPTION_ADDED', path: 'User.reviewCount', severity: 'safe', subgraphs: ['reviews'] },
    ]);
  });

  it('passes a breaking change that a committed acknowledgement explains, and reports acknowledgements no longer needed', async () => {
    const registry = await fixture('query Directory { users(first: 10) { id name } }');
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check(
      { accounts: ACCOUNTS.replace('  "Contact email."\n  email: String!\n', '') },
      [
        'acknowledged:',
        '  - change: FIELD_REMOVED',
        '    path: User.email',
        '    reason: Moved to the contacts subgraph; the web app stopped reading it in 4.2',
        '  - operation: SomethingOld',
        '    reason: left over',
      ].join('\n'),
    );

    expect(report.ok).toBe(true);
    expect(breakingChanges(report)).toMatchObject([
      { path: 'User.email', acknowledged: 'Moved to the contacts subgraph; the web app stopped reading it in 4.2' },
    ]);
    expect(report.unusedAcknowledgements).toEqual([{ operation: 'SomethingOld', reason: 'left over' }]);
  });

  it('acknowledges an operation in one client only when the acknowledgement names where, though another shares its name', async () => {
    const registry = await fixture();
    const mobile = join(registry.registryDirectory, '..', 'clients', 'mobile');
    await mkdir(mobile);
    await writeFile(join(mobile, 'profile.graphql'), 'query Profile($id: ID!) { user(id: $id) { email } }');
    await registry.publish({ accounts: ACCOUNTS });
    const withoutEmail = { accounts: ACCOUNTS.replace('  "Contact email."\n  email: String!\n', '') };

    const report = await registry.check(
      withoutEmail,
      [
        'acknowledged:',
        '  - change: FIELD_REMOVED',
        '    path: User.email',
        '    reason: Moved to contacts',
        '  - operation: Profile',
        `    source: ${relative(process.cwd(), join(registry.registryDirectory, '..', 'clients', 'app.graphql'))}`,
        '    reason: The web app reads it from contacts in this release',
      ].join('\n'),
    );

    expect(report.operations.failures.map(({ source, acknowledged }) => ({ mobile: source.includes('mobile'), acknowledged }))).toEqual([
      { mobile: false, acknowledged: 'The web app reads it from contacts in this release' },
      { mobile: true, acknowledged: undefined },
    ]);
    expect(report.failures).toEqual(['1 client operation(s) no longer validate']);
  });

  it('refuses an acknowledgement without a reason, saying so and where', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });

    await expect(
      registry.check({ accounts: ACCOUNTS }, 'acknowledged:\n  - change: FIELD_REMOVED\n    path: User.email\n'),
    ).rejects.toThrow(/acknowledged\.yaml: acknowledged\.0\.reason: every acknowledgement needs a reason/);
  });

  it('fails on lint errors: names off convention and deprecations without a reason', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({
      accounts: ACCOUNTS.replace(
        '  "Account standing."\n  status',
        '  "Legacy id."\n  legacy_id: ID @deprecated\n  "Account standing."\n  status',
      ),
    });

    expect(report.ok).toBe(false);
    expect(report.lint.filter((finding) => finding.severity === 'error')).toEqual([
      { rule: 'field-naming', severity: 'error', coordinate: 'User.legacy_id', message: 'field names are camelCase' },
      {
        rule: 'deprecation-reason',
        severity: 'error',
        coordinate: 'User.legacy_id',
        message: 'is deprecated without a reason; say what to use instead and when it goes away',
      },
    ]);
  });

  it('warns about undocumented and unreachable types without failing', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: `${ACCOUNTS}\ntype Orphan { value: Int }\n` });

    expect(report.ok).toBe(true);
    expect(report.lint).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'no-unused-types', severity: 'warning', coordinate: 'Orphan' }),
        expect.objectContaining({ rule: 'description-required', severity: 'warning', coordinate: 'Orphan.value' }),
      ]),
    );
  });

  describe('asked to require the published schema', () => {
    const WITH_NICKNAME = ACCOUNTS.replace(
      '  "Account standing."\n  status',
      '  "Preferred name."\n  nickname: String\n  "Account standing."\n  status',
    );

    it('passes when the working supergraph is the published one, and says so', async () => {
      const registry = await fixture();
      await registry.publish({ accounts: ACCOUNTS });
      const report = await registry.check({ accounts: ACCOUNTS }, undefined, { requirePublished: true });

      expect(report).toMatchObject({ ok: true, publication: { published: true } });
    });

    it('fails when the working supergraph is ahead of the published one, even by a safe change, unless a committed note says why', async () => {
      const registry = await fixture();
      await registry.publish({ accounts: ACCOUNTS });

      const unannounced = await registry.check({ accounts: WITH_NICKNAME }, undefined, { requirePublished: true });
      expect(unannounced.ok).toBe(false);
      expect(unannounced.publication).toMatchObject({ published: false, noteFile: expect.stringMatching(/pending-publication\.yaml$/) });
      expect(unannounced.failures).toEqual(['the working supergraph is not published, and no publication is pending']);

      const announced = await registry.check({ accounts: WITH_NICKNAME }, undefined, {
        requirePublished: true,
        pendingPublication: 'reason: Publish with the mobile 5.3 release\n',
      });
      expect(announced).toMatchObject({
        ok: true,
        publication: { published: false, pendingReason: 'Publish with the mobile 5.3 release' },
      });
    });

    it('fails on a note of a pending publication when nothing is pending, so that notes do not outlive their change', async () => {
      const registry = await fixture();
      await registry.publish({ accounts: ACCOUNTS });
      const report = await registry.check({ accounts: ACCOUNTS }, undefined, {
        requirePublished: true,
        pendingPublication: 'reason: Left over\n',
      });

      expect(report.ok).toBe(false);
      expect(report.failures).toEqual(['a publication is noted as pending, but the working supergraph is published']);
    });

    it('refuses a note without a reason', async () => {
      const registry = await fixture();
      await registry.publish({ accounts: ACCOUNTS });

      await expect(
        registry.check({ accounts: WITH_NICKNAME }, undefined, { requirePublished: true, pendingPublication: 'reason: ""\n' }),
      ).rejects.toThrow('pending-publication.yaml: reason: a pending publication needs a reason');
    });

    it('fails before anything was published', async () => {
      const registry = await fixture();
      const report = await registry.check({ accounts: ACCOUNTS }, undefined, { requirePublished: true });

      expect(report).toMatchObject({ ok: false, publication: { published: false } });
    });
  });

  it('reports whether the working supergraph is published without failing on it unless asked to', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    const report = await registry.check({ accounts: ACCOUNTS.replace('"A user by id."', '"One user, by id."') });

    expect(report).toMatchObject({ ok: true, publication: { published: false } });
  });

  it('fails when the registry is not sound: the supergraph production serves edited by hand, a gap in the history, a version that does not read', async () => {
    const registry = await fixture();
    await registry.publish({ accounts: ACCOUNTS });
    await registry.publish({ accounts: ACCOUNTS.replace('  "Display name."\n', '  "The name shown."\n') });
    const published = join(registry.registryDirectory, 'published/supergraph.graphql');
    const sound = await registry.check({ accounts: ACCOUNTS });

    await writeFile(published, 'garbage {{{');
    const edited = await registry.check({ accounts: ACCOUNTS });
    await rm(published);
    const missing = await registry.check({ accounts: ACCOUNTS });
    await rm(join(registry.registryDirectory, 'versions/000001.json'));
    await writeFile(join(registry.registryDirectory, 'versions/000002.json'), '{}');
    const broken = await registry.check({ accounts: ACCOUNTS });

    expect(sound.registryProblems).toEqual([]);
    const repair = "write version 2's supergraphSdl to it, or remove versions/000002.json if that publication did not finish";
    expect(edited.registryProblems).toEqual([
      `published/supergraph.graphql, which production serves, is not version 2's supergraph: ${repair}`,
    ]);
    expect(edited.failures[0]).toBe(`the registry is not sound: ${edited.registryProblems[0]}`);
    expect(edited.ok).toBe(false);
    expect(missing.registryProblems).toEqual([`published/supergraph.graphql, which production serves, is missing: ${repair}`]);
    expect(broken.registryProblems).toEqual([
      'the history has a gap: versions/000001.json missing',
      `${join(registry.registryDirectory, 'versions/000002.json')} is not a published version: it needs a supergraphSdl and its subgraphs`,
    ]);
    expect(broken.ok).toBe(false);
  });

  it('fails on client documents it cannot read, naming each file and where, and leaves other JSON files alone', async () => {
    const registry = await fixture('query Oops {');
    const clients = join(registry.registryDirectory, '..', 'clients');
    await writeFile(join(clients, 'anonymous.graphql'), '{ users { id } }');
    await writeFile(join(clients, 'persisted-query-manifest.json'), '{ "format": ');
    await writeFile(join(clients, 'tsconfig.json'), '{ // comments, as TypeScript allows\n}');
    await writeFile(join(clients, 'old-manifest.json'), '{ "format": "apollo-persisted-query-manifest", "version": 2, "operations": [] }');
    await registry.publish({ accounts: ACCOUNTS });

    const report = await registry.check({ accounts: ACCOUNTS });

    const failure = (file: RegExp, error: unknown) => ({
      operation: expect.stringMatching(file),
      source: expect.stringMatching(file),
      errors: [error],
    });
    expect(report.operations.failures).toEqual([
      failure(/app\.graphql$/, 'Syntax Error: Expected Name, found <EOF>. (line 1, column 13)'),
      failure(/old-manifest\.json$/, expect.stringMatching(/^not an Apollo persisted-query manifest: version: /)),
      failure(/persisted-query-manifest\.json$/, expect.stringMatching(/^not JSON: /)),
      failure(/anonymous\.graphql$/, 'every operation needs a name, so that checks can report it'),
    ]);
    expect(report.failures).toEqual(['4 client operation(s) no longer validate']);
  });

  it('checks operations and composition even before anything was published', async () => {
    const registry = await fixture();
    const report = await registry.check({ accounts: ACCOUNTS });
    expect(report).toMatchObject({ ok: true, baseVersion: null, changes: [], operations: { checked: 2, failures: [] } });
  });
});
