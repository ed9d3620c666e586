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
    check(): Promise<CheckReport> {
      return checkSchema({
        supergraphConfig: join(root, 'supergraph.yaml'),
        registryDirectory: registry.directory,
        operationDirectories: [],
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
