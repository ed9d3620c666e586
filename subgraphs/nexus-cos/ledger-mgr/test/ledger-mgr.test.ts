import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { LedgerMgrServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const POST = `mutation ($input: PostJournalEntryInput!) { postJournalEntry(input: $input) {
  __typename
  ... on PostedJournalEntry { created entry { id idempotencyKey amountMinor lines { accountCode debitMinor creditMinor } } }
  ... on UnbalancedJournalEntry { debitTotalMinor creditTotalMinor }
  ... on IdempotencyKeyConflict { idempotencyKey existingEntry { id } }
} }`;
const ENTRIES = `query ($sourceId: String) { journalEntries(first: 100, sourceId: $sourceId) { id } }`;
const BALANCES = `query ($at: DateTime) { accountBalances(at: $at) { accountCode currency debitTotalMinor creditTotalMinor balanceMinor } }`;
const RECONCILIATION = `query ($from: DateTime!, $to: DateTime!) { reconciliation(from: $from, to: $to) { clean } }`;

const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

/** An invoice of 120.00 EUR issued: receivable against revenue and tax. */
const issued = (key: string, occurredAt = '2026-03-01T10:00:00.000Z') => ({
  idempotencyKey: key,
  source: 'INVOICE',
  sourceId: key,
  description: 'Invoice issued',
  occurredAt,
  currency: 'EUR',
  lines: [
    { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 12_000, creditMinor: 0 },
    { account: 'REVENUE', debitMinor: 0, creditMinor: 10_000 },
    { account: 'TAX_PAYABLE', debitMinor: 0, creditMinor: 2_000 },
  ],
});

type Posted = { postJournalEntry: Record<string, any> };

describe('the ledger-mgr subgraph', () => {
  let under: SubgraphUnderTest<LedgerMgrServices>;

  beforeAll(async () => {
    // billing-service is not there: the reconciliation says it cannot be reached.
    under = await startSubgraphUnderTest('ledger-mgr-behaviour', (env) => subgraph.start(env), {
      BILLING_SERVICE_URL: 'http://127.0.0.1:9/graphql',
    });
  });

  afterAll(async () => {
    await under?.close();
  });

  const post = (identity: Identity, input: Record<string, unknown>) => under.ask<Posted>(identity, POST, { input });

  it('posts a balanced entry once per key: the same entry again is the first one, another under its key a conflict', async () => {
    const poster = member(randomUUID());
    const key = `invoice:${randomUUID()}:issued`;
    const first = (await post(poster, issued(key))).data!.postJournalEntry;
    expect(first).toMatchObject({ __typename: 'PostedJournalEntry', created: true, entry: { idempotencyKey: key, amountMinor: 12_000 } });
    expect((first.entry.lines as { accountCode: string }[]).map((line) => line.accountCode)).toEqual([
      'ACCOUNTS_RECEIVABLE',
      'REVENUE',
      'TAX_PAYABLE',
    ]);
    expect((await post(poster, issued(key))).data!.postJournalEntry).toEqual({ ...first, created: false });
    expect((await post(poster, issued(key, '2026-03-02T10:00:00.000Z'))).data!.postJournalEntry).toEqual({
      __typename: 'IdempotencyKeyConflict',
      idempotencyKey: key,
      existingEntry: { id: first.entry.id },
    });
    expect((await under.ask(poster, ENTRIES, { sourceId: key })).data).toEqual({ journalEntries: [{ id: first.entry.id }] });
  });

  it('refuses an unbalanced entry with UnbalancedJournalEntry, posting nothing', async () => {
    const poster = member(randomUUID());
    const unbalanced = issued('invoice:unbalanced');
    unbalanced.lines[1] = { account: 'REVENUE', debitMinor: 0, creditMinor: 9_999 };
    expect((await post(poster, unbalanced)).data!.postJournalEntry).toEqual({
      __typename: 'UnbalancedJournalEntry',
      debitTotalMinor: 12_000,
      creditTotalMinor: 11_999,
    });
    expect((await under.ask(poster, ENTRIES, {})).data).toEqual({ journalEntries: [] });
  });

  it('posts one entry when the same key is posted ten times at once', async () => {
    const poster = member(randomUUID());
    const key = `payment:pi_${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 10 }, () => post(poster, issued(key))));
    const outcomes = results.map((result) => result.data!.postJournalEntry);
    expect(outcomes.filter((outcome) => outcome.created === true)).toHaveLength(1);
    expect(new Set(outcomes.map((outcome) => outcome.entry.id)).size).toBe(1);
    expect((await under.ask<{ journalEntries: unknown[] }>(poster, ENTRIES, {})).data?.journalEntries).toHaveLength(1);
  });

  it('keeps entries immutable in the database itself: an update or a delete is refused', async () => {
    const poster = member(randomUUID());
    await post(poster, issued(`invoice:${randomUUID()}:issued`));
    const connection = systemFork(under.subgraph.database).getConnection();
    await expect(connection.execute(`update "journal_entries" set "description" = 'changed'`)).rejects.toThrow(/immutable/);
    await expect(connection.execute(`delete from "journal_lines"`)).rejects.toThrow(/immutable/);
  });

  it('gives every balance at any moment, from the entries that occurred up to it', async () => {
    const poster = member(randomUUID());
    await post(poster, issued('invoice:march', '2026-03-01T10:00:00.000Z'));
    await post(poster, {
      ...issued('payment:march', '2026-03-10T10:00:00.000Z'),
      source: 'PAYMENT',
      lines: [
        { account: 'CASH', debitMinor: 12_000, creditMinor: 0 },
        { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 0, creditMinor: 12_000 },
      ],
    });
    const at = async (moment: string) =>
      Object.fromEntries(
        (
          (await under.ask<{ accountBalances: { accountCode: string; balanceMinor: number }[] }>(poster, BALANCES, { at: moment })).data
            ?.accountBalances ?? []
        ).map((balance) => [balance.accountCode, balance.balanceMinor]),
      );
    expect(await at('2026-02-28T00:00:00.000Z')).toEqual({ CASH: 0, ACCOUNTS_RECEIVABLE: 0, REVENUE: 0, TAX_PAYABLE: 0 });
    expect(await at('2026-03-05T00:00:00.000Z')).toEqual({ CASH: 0, ACCOUNTS_RECEIVABLE: 12_000, REVENUE: 10_000, TAX_PAYABLE: 2_000 });
    expect(await at('2026-03-31T00:00:00.000Z')).toEqual({ CASH: 12_000, ACCOUNTS_RECEIVABLE: 0, REVENUE: 10_000, TAX_PAYABLE: 2_000 });
  });

  it('refuses a VIEWER with FORBIDDEN and an anonymous caller with UNAUTHENTICATED, posting nothing', async () => {
    const viewer = member(randomUUID(), [Role.Viewer]);
    expect((await post(viewer, issued('invoice:viewer'))).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await post({ kind: 'anonymous' }, issued('invoice:anonymous'))).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await under.ask(viewer, ENTRIES, {})).data).toEqual({ journalEntries: [] });
    const period = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
    expect((await under.ask(member(randomUUID()), RECONCILIATION, period)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('answers malformed input with BAD_USER_INPUT naming the field, and an unreachable billing with SERVICE_UNAVAILABLE', async () => {
    const poster = member(randomUUID(), [Role.Admin]);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...issued('bad:one-line'), lines: [{ account: 'CASH', debitMinor: 1, creditMinor: 0 }] }, 'lines'],
      [
        { ...issued('bad:both-sides'), lines: [{ account: 'CASH', debitMinor: 1, creditMinor: 1 }, ...issued('x').lines] },
        'lines.0.debitMinor',
      ],
      [{ ...issued('bad:currency'), currency: 'eur' }, 'currency'],
      [{ ...issued('bad:key'), idempotencyKey: ' ' }, 'idempotencyKey'],
    ];
    for (const [input, field] of cases) {
      expect((await post(poster, input)).errors?.[0], field).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
    }
    const backwards = { from: '2026-02-01T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' };
    expect((await under.ask(poster, RECONCILIATION, backwards)).errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'to' },
    });
    const period = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
    expect((await under.ask(poster, RECONCILIATION, period)).errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(under.loggedErrors).toEqual([]);
  });
});
