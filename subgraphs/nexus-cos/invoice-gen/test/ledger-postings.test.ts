import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIdentity, systemFork, type Environment, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes, TcpProxy } from '@nexusflow/kit/testing';
import { definitionOf, TestServices } from '../../../../test/support/services.ts';
import type { InvoiceGenServices } from '../src/context.ts';
import { LedgerPosting } from '../src/entities/ledger-posting.entity.ts';
import { subgraph } from '../src/subgraph.ts';
import { CREATE_DRAFT, draftInput, ISSUE, userOf, VOID, type InvoiceView } from './fixtures.ts';

const BACKOFF_MS = 1_000;
const ENTRIES = `query ($sourceId: String) { journalEntries(first: 10, source: INVOICE, sourceId: $sourceId) {
  idempotencyKey sourceId currency amountMinor lines { accountCode debitMinor creditMinor } } }`;
const BALANCES = '{ accountBalances(currency: "EUR") { accountCode balanceMinor } }';

describe.each(storageModes(['postgres', 'redis', 'amqp']))('invoice postings to the real ledger-mgr on $storage', ({ mode }) => {
  let services: TestServices;
  let ledgerMgr: RunningSubgraph<unknown>;
  let invoiceGen: RunningSubgraph<InvoiceGenServices>;
  /** Between invoice-gen and ledger-mgr: refusing connections (ledger-mgr down) until pointed at it. */
  let link: TcpProxy;
  let clock = Date.parse('2026-03-02T08:00:00.000Z');
  let environment: Environment;

  const startInvoiceGen = () => subgraph.start(environment, { clock: () => clock });

  beforeAll(async () => {
    services = await TestServices.create(mode, `invoice_gen_ledger_${mode}`);
    ledgerMgr = await services.start(await definitionOf('nexus-cos', 'ledger-mgr'), await services.environmentFor('ledger-mgr'));
    link = await TcpProxy.start();
    services.onClose(() => link.close());
    environment = {
      ...(await services.environmentFor('invoice-gen')),
      LEDGER_MGR_URL: link.urlFor(ledgerMgr.graphqlUrl),
      LEDGER_POSTING_INTERVAL_MS: '0',
      LEDGER_POSTING_BACKOFF_MS: String(BACKOFF_MS),
    };
    invoiceGen = await startInvoiceGen();
    // Whichever instance runs at the end: a test restarts it.
    services.onClose(() => invoiceGen.close());
  });

  afterAll(async () => {
    await services?.close();
  });

  const data = async <T = Record<string, any>>(target: RunningSubgraph<unknown>, identity: Identity, query: string, variables = {}) => {
    const response = await postGraphQL<T>(target.graphqlUrl, query, {
      variables,
      headers: signIdentity(identity, target.config.internalSecret),
    });
    expect(response.errors, query).toBeUndefined();
    return response.data!;
  };
  const postingsOf = (invoiceId: string) =>
    systemFork(invoiceGen.database).find(LedgerPosting, { invoiceId }, { orderBy: { createdAt: 'asc' }, refresh: true });
  /** What the poll would do once the backoff has passed: a pass over the due postings. */
  const retryAfterBackoff = async () => {
    clock += BACKOFF_MS * 60;
    invoiceGen.services.postings.wake();
    await invoiceGen.services.postings.idle();
  };

  it('keeps an issue’s posting while ledger-mgr is down and posts it, once, when it is back; a void posts the reversal', async () => {
    const owner = userOf(randomUUID());
    const draft = (await data<{ createInvoiceDraft: InvoiceView }>(invoiceGen, owner, CREATE_DRAFT, { input: draftInput() }))
      .createInvoiceDraft;
    const issued = (await data<{ issueInvoice: InvoiceView }>(invoiceGen, owner, ISSUE, { id: draft.id })).issueInvoice;
    expect(issued.status).toBe('ISSUED');
    await invoiceGen.services.postings.idle();
    expect(await postingsOf(issued.id)).toMatchObject([{ status: 'PENDING', attempts: 1, lastError: 'SERVICE_UNAVAILABLE' }]);
    await retryAfterBackoff();
    expect(await postingsOf(issued.id)).toMatchObject([{ status: 'PENDING', attempts: 2, lastError: 'SERVICE_UNAVAILABLE' }]);

    link.pointAt(ledgerMgr.graphqlUrl);
    await retryAfterBackoff();
    const [posted] = await postingsOf(issued.id);
    expect(posted).toMatchObject({ status: 'POSTED', attempts: 3, lastError: null, journalEntryId: expect.any(String) });
    const entries = await data(ledgerMgr, owner, ENTRIES, { sourceId: issued.id });
    expect(entries.journalEntries).toEqual([
      {
        idempotencyKey: `invoice:${issued.id}:issued`,
        sourceId: issued.id,
        currency: 'EUR',
        amountMinor: 4199,
        lines: expect.arrayContaining([
          { accountCode: 'ACCOUNTS_RECEIVABLE', debitMinor: 4199, creditMinor: 0 },
          { accountCode: 'REVENUE', debitMinor: 0, creditMinor: 3499 },
          { accountCode: 'TAX_PAYABLE', debitMinor: 0, creditMinor: 700 },
        ]),
      },
    ]);

    // An answer lost on the way back: the poster sends the same posting again, and ledger-mgr keeps one entry.
    await systemFork(invoiceGen.database).nativeUpdate(LedgerPosting, { id: posted!.id }, { status: 'PENDING', journalEntryId: null });
    await retryAfterBackoff();
    expect(await postingsOf(issued.id)).toMatchObject([{ status: 'POSTED', journalEntryId: posted!.journalEntryId }]);
    expect((await data(ledgerMgr, owner, ENTRIES, { sourceId: issued.id })).journalEntries).toHaveLength(1);

    expect((await data(invoiceGen, owner, VOID, { id: issued.id })).voidInvoice).toMatchObject({ status: 'VOID' });
    await invoiceGen.services.postings.idle();
    expect((await postingsOf(issued.id)).map(({ idempotencyKey, status }) => [idempotencyKey, status])).toEqual([
      [`invoice:${issued.id}:issued`, 'POSTED'],
      [`invoice:${issued.id}:voided`, 'POSTED'],
    ]);
    expect((await data(ledgerMgr, owner, ENTRIES, { sourceId: issued.id })).journalEntries).toHaveLength(2);
    const balances = (await data(ledgerMgr, owner, BALANCES)).accountBalances as { accountCode: string; balanceMinor: number }[];
    for (const { accountCode, balanceMinor } of balances) expect(balanceMinor, accountCode).toBe(0);
  });

  it('posts what it owed when it stopped once it is started again', async () => {
    link.takeDown();
    const owner = userOf(randomUUID());
    const draft = (await data<{ createInvoiceDraft: InvoiceView }>(invoiceGen, owner, CREATE_DRAFT, { input: draftInput() }))
      .createInvoiceDraft;
    await data(invoiceGen, owner, ISSUE, { id: draft.id });
    await invoiceGen.services.postings.idle();
    expect(await postingsOf(draft.id)).toMatchObject([{ status: 'PENDING', attempts: 1 }]);

    await invoiceGen.close();
    link.bringUp();
    clock += BACKOFF_MS * 60;
    invoiceGen = await startInvoiceGen();
    // Its first poll runs at start.
    await invoiceGen.services.postings.idle();
    expect(await postingsOf(draft.id)).toMatchObject([{ status: 'POSTED', attempts: 2 }]);
    expect((await data(ledgerMgr, owner, ENTRIES, { sourceId: draft.id })).journalEntries).toMatchObject([{ amountMinor: 4199 }]);
  });
});
