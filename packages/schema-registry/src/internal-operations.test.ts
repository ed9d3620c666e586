import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { checkSchema, type CheckReport } from './check.ts';
import { composeSupergraph, readSupergraphConfig } from './composition.ts';
import { formatCheckReport } from './report.ts';
import { SchemaRegistry } from './registry.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@inaccessible"])';

const ACCOUNTS = `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ID!
  "Contact email."
  email: String!
  "What support noted about the account; for other services only."
  supportNote: String @inaccessible
}
type Query {
  "A user by id."
  user(id: ID!): User
}
`;

const BILLING = `${LINK}
"A bill sent to a user."
type Invoice @key(fields: "id") {
  "Identifier."
  id: ID!
  "Amount due, in cents."
  amountCents: Int!
}
type Query {
  "An invoice by id."
  invoice(id: ID!): Invoice
}
`;

/** What billing asks accounts for, straight from the accounts subgraph rather than through the gateway. */
const BILLING_CALLS_ACCOUNTS = {
  'invoice-recipient.graphql': 'query InvoiceRecipient($id: ID!) { user(id: $id) { id email } }',
  'dunning-note.graphql': 'query DunningNote($id: ID!) { user(id: $id) { supportNote } }',
};

const scratch: { remove(): Promise<void> }[] = [];
afterEach(async () => {
  for (const directory of scratch.splice(0)) await directory.remove();
});

/**
 * A repository laid out as ours is: `<subgraph>/schema.graphql`, and each caller's documents under
 * `<caller>/src/operations/<target>/`, found by the check's default.
 */
async function repository(files: Record<string, string>) {
  const directory = await createTempDirectory('internal-operations');
  scratch.push(directory);
  const root = directory.path;
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const config = ['subgraphs:'];
  for (const [index, name] of ['accounts', 'billing'].entries()) {
    config.push(
      `  ${name}:`,
      `    routing_url: http://127.0.0.1:${4001 + index}/graphql`,
      `    schema:`,
      `      file: ./${name}/schema.graphql`,
    );
  }
  await writeFile(join(root, 'supergraph.yaml'), config.join('\n'));
  const registry = new SchemaRegistry(join(root, 'registry'));
  return {
    root,
    async publishWorkingSchemas(): Promise<void> {
      const subgraphs = await readSupergraphConfig(join(root, 'supergraph.yaml'));
      await registry.publish({ subgraphs, supergraphSdl: composeSupergraph(subgraphs), changes: [] });
    },
    check(acknowledgementsFile?: string): Promise<CheckReport> {
      return checkSchema({
        supergraphConfig: join(root, 'supergraph.yaml'),
        registryDirectory: registry.directory,
        operationDirectories: [],
        ...(acknowledgementsFile ? { acknowledgementsFile } : {}),
      });
    },
  };
}

function billingCalling(accounts: string): Record<string, string> {
  const calls = Object.entries(BILLING_CALLS_ACCOUNTS).map(([file, document]) => [`billing/src/operations/accounts/${file}`, document]);
  return { 'accounts/schema.graphql': accounts, 'billing/schema.graphql': BILLING, ...Object.fromEntries(calls) };
}

describe('schema check of operations between subgraphs', () => {
  it('passes when every call validates against its target subgraph, counting them', async () => {
    const report = await (await repository(billingCalling(ACCOUNTS))).check();

    expect(report.failures).toEqual([]);
    expect(report.internalOperations).toEqual({ checked: 2, failures: [] });
    expect(formatCheckReport(report)).toContain('Internal operations: 2 checked, 0 no longer validate');
  });

  it('fails when a field a call uses is renamed, naming the caller, the target and the operation', async () => {
    const renamed = ACCOUNTS.replace('  email: String!', '  emailAddress: String!');
    const report = await (await repository(billingCalling(renamed))).check();

    expect(report.ok).toBe(false);
    expect(report.internalOperations.failures).toEqual([
      {
        caller: 'billing',
        target: 'accounts',
        operation: 'InvoiceRecipient',
        source: expect.stringMatching(/billing\/src\/operations\/accounts\/invoice-recipient\.graphql$/),
        errors: ['Cannot query field "email" on type "User".'],
      },
    ]);
    expect(report.failures).toEqual(['1 internal operation(s) no longer validate (billing → accounts: operation InvoiceRecipient)']);
    expect(formatCheckReport(report)).toContain('✗ billing → accounts: operation InvoiceRecipient');
  });

  it('fails when a field hidden from the API is removed although clients see no change, since a subgraph still calls it', async () => {
    const fixture = await repository(billingCalling(ACCOUNTS));
    await fixture.publishWorkingSchemas();
    await writeFile(
      join(fixture.root, 'accounts/schema.graphql'),
      ACCOUNTS.replace('  "What support noted about the account; for other services only."\n  supportNote: String @inaccessible\n', ''),
    );

    const report = await fixture.check();

    expect(report.changes).toEqual([]);
    expect(report.operations.failures).toEqual([]);
    expect(report.internalOperations.failures).toMatchObject([
      { caller: 'billing', target: 'accounts', operation: 'DunningNote', errors: ['Cannot query field "supportNote" on type "User".'] },
    ]);
    expect(report.ok).toBe(false);
  });

  it('fails a call that still validates when its target makes a breaking change to what it uses, naming the change', async () => {
    const fixture = await repository(billingCalling(ACCOUNTS));
    await fixture.publishWorkingSchemas();
    // The call reads supportNote, hidden from the API: clients see no change, and its document still validates.
    await writeFile(
      join(fixture.root, 'accounts/schema.graphql'),
      ACCOUNTS.replace('supportNote: String @inaccessible', 'supportNote: Int @inaccessible'),
    );

    const report = await fixture.check();

    expect(report.changes).toEqual([]);
    expect(report.internalOperations.failures).toEqual([
      {
        caller: 'billing',
        target: 'accounts',
        operation: 'DunningNote',
        source: expect.stringMatching(/dunning-note\.graphql$/),
        errors: ["FIELD_TYPE_CHANGED User.supportNote: Field 'User.supportNote' changed type from 'String' to 'Int'"],
        change: { type: 'FIELD_TYPE_CHANGED', path: 'User.supportNote' },
      },
    ]);
    expect(report.failures).toEqual([
      '1 internal operation(s) broken by a change of their target not acknowledged (billing → accounts: operation DunningNote)',
    ]);
    expect(formatCheckReport(report)).toContain(
      'Internal operations: 2 checked, 0 no longer validate, 1 broken by a change of their target',
    );
  });

  it('fails a call whose input type gains a required field, and passes once the change is acknowledged', async () => {
    const withNotes = (inputFields: string) => `${ACCOUNTS}
"What a note on a user says."
input NoteInput @inaccessible {
${inputFields}
}
type Mutation {
  "Whether accounts answers."
  ping: Boolean
  "Notes a user; for other services only."
  noteUser(input: NoteInput!): Boolean @inaccessible
}
`;
    const note = { 'billing/src/operations/accounts/note.graphql': 'mutation NoteUser($input: NoteInput!) { noteUser(input: $input) }' };
    const fixture = await repository({ ...billingCalling(withNotes('  "The note."\n  text: String!')), ...note });
    await fixture.publishWorkingSchemas();
    await writeFile(
      join(fixture.root, 'accounts/schema.graphql'),
      withNotes('  "The note."\n  text: String!\n  "Who wrote it."\n  author: String!'),
    );

    const refused = await fixture.check();
    await writeFile(
      join(fixture.root, 'acknowledged.yaml'),
      'acknowledged:\n  - change: INPUT_FIELD_ADDED\n    path: NoteInput.author\n    reason: billing sends the author from this change on; accounts deploys first\n',
    );
    const acknowledged = await fixture.check(join(fixture.root, 'acknowledged.yaml'));

    expect(refused.internalOperations.failures).toMatchObject([
      { operation: 'NoteUser', change: { type: 'INPUT_FIELD_ADDED', path: 'NoteInput.author' } },
    ]);
    expect(refused.ok).toBe(false);
    expect(acknowledged.internalOperations.failures).toMatchObject([
      { operation: 'NoteUser', acknowledged: 'billing sends the author from this change on; accounts deploys first' },
    ]);
    expect(acknowledged.failures).toEqual([]);
  });

  it('fails a call to a subgraph the supergraph no longer has', async () => {
    const files = billingCalling(ACCOUNTS);
    const report = await (
      await repository({ ...files, 'billing/src/operations/ledger/balance.graphql': 'query Balance { balance }' })
    ).check();

    expect(report.internalOperations.failures).toEqual([
      {
        caller: 'billing',
        target: 'ledger',
        operation: 'Balance',
        source: expect.stringMatching(/balance\.graphql$/),
        errors: ['there is no subgraph named "ledger" in the supergraph'],
      },
    ]);
    expect(report.ok).toBe(false);
  });
});
