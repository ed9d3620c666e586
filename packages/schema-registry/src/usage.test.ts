import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDirectory } from '@nexusflow/kit/testing';
import { checkSchema, type CheckReport } from './check.ts';
import { composeSupergraph } from './composition.ts';
import { SchemaRegistry } from './registry.ts';
import { formatCheckReport } from './report.ts';
import { usageSettingsOf } from './config.ts';
import { coordinateBrokenBy, type CoordinateClient, type UsageSource } from './usage.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])';

const ACCOUNTS = `${LINK}
"A customer."
type User @key(fields: "id") {
  "Identifier."
  id: ID!
  "Display name."
  name: String!
  "Contact email."
  email: String!
  "Fax number, from another age."
  fax: String
  "Account standing."
  status: Status!
}
"Account standing."
enum Status {
  "In good standing."
  ACTIVE
  "Locked by an administrator."
  SUSPENDED
  "Never used."
  ARCHIVED
}
"Who to find."
input UserFilter {
  "Standing."
  status: Status
}
type Query {
  "A user by id."
  user(id: ID!): User
  "Users, newest first."
  users("Which ones." filter: UserFilter, "How many." first: Int): [User!]!
}
`;

const WEB: CoordinateClient = { clientName: 'web', clientVersion: '2.3.1', count: 120, lastSeenAt: '2026-11-30T08:00:00.000Z' };
const MOBILE: CoordinateClient = { clientName: 'mobile', clientVersion: '1.0.0', count: 3, lastSeenAt: '2026-11-02T10:00:00.000Z' };

/** Usage as analytics would answer it: the clients that used each coordinate in the window, and what was asked. */
function recordedUsage(table: Record<string, CoordinateClient[]>) {
  const asked: { coordinates: string[]; days: number }[] = [];
  const source: UsageSource = async (coordinates, days) => {
    asked.push({ coordinates, days });
    return new Map(coordinates.map((coordinate) => [coordinate, table[coordinate] ?? []]));
  };
  return { source, asked };
}

const scratch: { remove(): Promise<void> }[] = [];
afterEach(async () => {
  for (const directory of scratch.splice(0)) await directory.remove();
});

/** Publishes ACCOUNTS (or `published`), then checks `proposed` against it with `usage` and the client `operations` given. */
async function check(
  proposed: string,
  usage?: { source: UsageSource; days?: number },
  { published: publishedSdl = ACCOUNTS, operations }: { published?: string; operations?: string } = {},
): Promise<CheckReport> {
  const directory = await createTempDirectory('usage-check');
  scratch.push(directory);
  const root = directory.path;
  await mkdir(join(root, 'clients'), { recursive: true });
  const registry = new SchemaRegistry(join(root, 'registry'));
  if (operations) await writeFile(join(root, 'clients/app.graphql'), operations);
  const published = [{ name: 'accounts', url: 'http://127.0.0.1:4001/graphql', sdl: publishedSdl }];
  await registry.publish({ subgraphs: published, supergraphSdl: composeSupergraph(published), changes: [] });
  await writeFile(join(root, 'accounts.graphql'), proposed);
  await writeFile(
    join(root, 'supergraph.yaml'),
    ['subgraphs:', '  accounts:', '    routing_url: http://127.0.0.1:4001/graphql', '    schema:', '      file: ./accounts.graphql'].join(
      '\n',
    ),
  );
  return checkSchema({
    supergraphConfig: join(root, 'supergraph.yaml'),
    registryDirectory: registry.directory,
    operationDirectories: [join(root, 'clients')],
    internalOperations: [],
    ...(usage ? { usage: { days: usage.days ?? 30, source: usage.source, describedAs: 'analytics' } } : {}),
  });
}

const without = (text: string) => ACCOUNTS.replace(text, '');

describe('usage-aware schema check', () => {
  it('reports the removal of a field no client used in the window as safe, and passes', async () => {
    const usage = recordedUsage({ 'User.email': [WEB] });
    const report = await check(without('  "Fax number, from another age."\n  fax: String\n'), usage);

    expect(report.ok).toBe(true);
    expect(report.changes).toMatchObject([
      {
        type: 'FIELD_REMOVED',
        path: 'User.fax',
        severity: 'breaking',
        usage: { coordinate: 'User.fax', days: 30, safe: true, clients: [] },
      },
    ]);
    expect(usage.asked).toEqual([{ coordinates: ['User.fax'], days: 30 }]);
    expect(formatCheckReport(report)).toContain('usage: no client used User.fax in the last 30 day(s): safe to ship');
  });

  it('fails on the removal of a used field, naming each client with its version, calls and last use', async () => {
    const usage = recordedUsage({ 'User.email': [WEB, MOBILE] });
    const report = await check(without('  "Contact email."\n  email: String!\n'), usage);

    expect(report.ok).toBe(false);
    expect(report.changes[0]).toMatchObject({ path: 'User.email', usage: { safe: false, clients: [WEB, MOBILE] } });
    expect(report.failures).toEqual(['1 breaking change(s) not acknowledged (used by web 2.3.1, mobile 1.0.0)']);
    const text = formatCheckReport(report);
    expect(text).toContain('usage: used in the last 30 day(s) by 2 client(s) through User.email:');
    expect(text).toContain('- web 2.3.1: 120 call(s), last 2026-11-30T08:00:00.000Z');
  });

  it('judges a removed enum value by that value, and a new required argument by every call of its field', async () => {
    const usage = recordedUsage({ 'Status.SUSPENDED': [MOBILE], 'Query.users': [WEB] });
    const report = await check(
      without('  "Never used."\n  ARCHIVED\n').replace('"How many." first: Int)', '"How many." first: Int, "Sort." sort: String!)'),
      usage,
    );

    expect(
      report.changes.map(({ type, path, usage: judged }) => ({ type, path, coordinate: judged?.coordinate, safe: judged?.safe })),
    ).toEqual(
      expect.arrayContaining([
        { type: 'ENUM_VALUE_REMOVED', path: 'Status.ARCHIVED', coordinate: 'Status.ARCHIVED', safe: true },
        { type: 'FIELD_ARGUMENT_ADDED', path: 'Query.users.sort', coordinate: 'Query.users', safe: false },
      ]),
    );
    expect(report.failures).toEqual(['1 breaking change(s) not acknowledged (used by web 2.3.1)']);
  });

  it('keeps a change that a committed client operation uses breaking, though no client used it in the window', async () => {
    const usage = recordedUsage({});
    const report = await check(ACCOUNTS.replace('  name: String!', '  name: String'), usage, {
      operations: 'query Names { users { name } }',
    });

    expect(report.changes[0]).toMatchObject({
      type: 'FIELD_TYPE_CHANGED',
      path: 'User.name',
      affectedOperations: ['Names'],
      usage: { safe: false, clients: [] },
    });
    expect(report.ok).toBe(false);
    expect(formatCheckReport(report)).toContain(
      'usage: no client used User.name in the last 30 day(s), but the operations above use it: not safe to ship',
    );
  });

  it('fails the removal of a field deprecated first while clients still use it, and passes it once none did', async () => {
    const deprecated = ACCOUNTS.replace('  fax: String\n', '  fax: String @deprecated(reason: "Nobody faxes")\n');
    const removed = without('  "Fax number, from another age."\n  fax: String\n');

    const stillUsed = await check(removed, recordedUsage({ 'User.fax': [MOBILE] }), { published: deprecated });
    const unused = await check(removed, recordedUsage({}), { published: deprecated });

    expect(stillUsed.changes).toMatchObject([{ type: 'FIELD_REMOVED', severity: 'dangerous', usage: { safe: false, clients: [MOBILE] } }]);
    expect(stillUsed.failures).toEqual(['1 breaking change(s) not acknowledged (used by mobile 1.0.0)']);
    expect(formatCheckReport(stillUsed)).toContain('fails: what it removes is still used');
    expect(unused.changes).toMatchObject([{ type: 'FIELD_REMOVED', severity: 'dangerous', usage: { safe: true } }]);
    expect(unused.ok).toBe(true);
  });

  it('leaves every breaking change breaking, and says why, when usage cannot be read', async () => {
    const report = await check(without('  "Fax number, from another age."\n  fax: String\n'), {
      source: () => Promise.reject(new Error('the request failed: connect ECONNREFUSED')),
    });

    expect(report.ok).toBe(false);
    expect(report.usage).toEqual({ days: 30, source: 'analytics', error: 'the request failed: connect ECONNREFUSED' });
    expect(report.changes[0]!.usage).toBeUndefined();
    expect(formatCheckReport(report)).toContain('Usage: could not be read from analytics');
  });

  it('checks as before without a usage window', async () => {
    const report = await check(without('  "Fax number, from another age."\n  fax: String\n'));
    expect(report.ok).toBe(false);
    expect(report.usage).toBeUndefined();
    expect(report.failures).toEqual(['1 breaking change(s) not acknowledged']);
  });
});

describe('the coordinate a breaking change breaks', () => {
  it.each([
    ['FIELD_REMOVED', 'User.fax', 'User.fax'],
    ['FIELD_TYPE_CHANGED', 'User.name', 'User.name'],
    ['FIELD_ARGUMENT_REMOVED', 'Query.users.first', 'Query.users.first'],
    ['FIELD_ARGUMENT_ADDED', 'Query.users.sort', 'Query.users'],
    ['FIELD_ARGUMENT_TYPE_CHANGED', 'Query.users.first', 'Query.users'],
    ['INPUT_FIELD_REMOVED', 'UserFilter.status', 'UserFilter.status'],
    ['INPUT_FIELD_ADDED', 'UserFilter.name', 'UserFilter'],
    ['ENUM_VALUE_REMOVED', 'Status.ARCHIVED', 'Status.ARCHIVED'],
    ['TYPE_REMOVED', 'UserFilter', 'UserFilter'],
    ['DIRECTIVE_REMOVED', '@tag', undefined],
  ])('%s of %s breaks uses of %s', (type, path, coordinate) => {
    expect(coordinateBrokenBy({ type, path })).toBe(coordinate);
  });
});

describe('usage settings', () => {
  it('are off without --usage-days, whatever the environment says', () => {
    expect(usageSettingsOf({}, { SCHEMA_USAGE_URL: 'http://analytics:3006/graphql' })).toBeUndefined();
  });

  it('take --usage-url over SCHEMA_USAGE_URL, and refuse a window out of range', () => {
    const env = { SCHEMA_USAGE_URL: 'http://analytics:3006/graphql', INTERNAL_SECRET: 'x'.repeat(32) };
    expect(usageSettingsOf({ days: '30' }, env)).toEqual({
      days: 30,
      url: 'http://analytics:3006/graphql',
      internalSecret: 'x'.repeat(32),
    });
    expect(usageSettingsOf({ days: '7', url: 'http://127.0.0.1:3006/graphql' }, env)?.url).toBe('http://127.0.0.1:3006/graphql');
    expect(() => usageSettingsOf({ days: '0' }, env)).toThrow(/days/);
    expect(() => usageSettingsOf({ url: 'http://127.0.0.1:3006/graphql' }, env)).toThrow('--usage-url needs --usage-days <n>');
  });
});
