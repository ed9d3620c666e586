import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { CLOSED_PORT_URL, TestServices } from '../../../../test/support/services.ts';
import type { InvoiceGenServices } from '../src/context.ts';
import { LedgerPosting } from '../src/entities/ledger-posting.entity.ts';
import { subgraph } from '../src/subgraph.ts';
import { CREATE_DRAFT, draftInput, FIND, ISSUE, LIST, RECORD_PAYMENT, userOf, VOID, type InvoiceView } from './fixtures.ts';

const MINUTE_MS = 60_000;
/** pdf.js reads the metrics of the standard fonts (which the PDF names but does not embed) from its own package. */
const STANDARD_FONTS = `${join(dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json')), 'standard_fonts')}/`;

/** The text of every page of a PDF, as a reader extracts it. */
async function textOfPdf(bytes: ArrayBuffer): Promise<string> {
  const pdf = await getDocument({ data: new Uint8Array(bytes), standardFontDataUrl: STANDARD_FONTS, isEvalSupported: false }).promise;
  const pages: string[] = [];
  for (let number = 1; number <= pdf.numPages; number += 1) {
    const content = await (await pdf.getPage(number)).getTextContent();
    pages.push(content.items.map((item) => ('str' in item ? item.str : '')).join(' '));
  }
  await pdf.destroy();
  return pages.join('\n');
}

describe.each(storageModes(['postgres', 'redis', 'amqp']))('invoices of invoice-gen on $storage', ({ mode }) => {
  let services: TestServices;
  let invoiceGen: RunningSubgraph<InvoiceGenServices>;
  let clock = Date.parse('2026-06-15T12:00:00.000Z');

  beforeAll(async () => {
    services = await TestServices.create(mode, `invoice_gen_behaviour_${mode}`);
    invoiceGen = await services.start(
      subgraph,
      {
        ...(await services.environmentFor('invoice-gen')),
        // ledger-mgr is down throughout: what is owed to it waits in the outbox (its own suite posts for real).
        LEDGER_MGR_URL: CLOSED_PORT_URL,
        LEDGER_POSTING_INTERVAL_MS: '0',
        LEDGER_POSTING_BACKOFF_MS: String(60 * MINUTE_MS),
      },
      { clock: () => clock },
    );
  });

  afterAll(async () => {
    await services?.close();
  });

  const ask = <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
    postGraphQL<T>(invoiceGen.graphqlUrl, query, { variables, headers: signIdentity(identity, invoiceGen.config.internalSecret) });
  const data = async <T = Record<string, any>>(identity: Identity, query: string, variables: Record<string, unknown> = {}) => {
    const response = await ask<T>(identity, query, variables);
    expect(response.errors, query).toBeUndefined();
    return response.data!;
  };
  const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
    response.errors?.map((error) => error.extensions?.code);
  const createDraft = async (identity: Identity, overrides: Record<string, unknown> = {}) =>
    (await data<{ createInvoiceDraft: InvoiceView }>(identity, CREATE_DRAFT, { input: draftInput(overrides) })).createInvoiceDraft;
  const issue = async (identity: Identity, id: string) => (await data<{ issueInvoice: InvoiceView }>(identity, ISSUE, { id })).issueInvoice;
  const postingsOf = (invoiceId: string) =>
    systemFork(invoiceGen.database).find(LedgerPosting, { invoiceId }, { orderBy: { createdAt: 'asc' } });

  it('creates a draft whose lines are taxed one by one, rounded half-even, and totalled', async () => {
    const owner = userOf(randomUUID());
    const draft = await createDraft(owner);
    expect(draft).toMatchObject({
      number: null,
      status: 'DRAFT',
      currency: 'EUR',
      currencyExponent: 2,
      subtotalMinor: 3499,
      taxMinor: 700,
      totalMinor: 4199,
      formattedTotal: '€41.99',
      taxRatePercent: '20',
      pdfUrl: null,
      customer: { name: 'Globex Corporation', email: 'ap@globex.example', address: '1 Infinite Loop', taxId: null },
    });
    expect(draft.lines).toEqual([
      {
        position: 1,
        description: 'Widget',
        quantity: 2,
        unitPriceMinor: 1250,
        amountMinor: 2500,
        taxRatePercent: '20',
        taxMinor: 500,
        totalMinor: 3000,
      },
      {
        position: 2,
        description: 'Gadget',
        quantity: 1,
        unitPriceMinor: 999,
        amountMinor: 999,
        taxRatePercent: '20',
        taxMinor: 200,
        totalMinor: 1199,
      },
    ]);
  });

  it('keeps amounts in each currency’s minor unit, and lets a line carry its own rate', async () => {
    const owner = userOf(randomUUID());
    const yen = await createDraft(owner, {
      currency: 'jpy',
      taxRatePercent: '8',
      lines: [
        { description: 'Consulting hour', quantity: 3, unitPriceMinor: 333 },
        { description: 'Reduced-rate food', quantity: 1, unitPriceMinor: 1005, taxRatePercent: '8.5' },
      ],
    });
    // 999 × 8 % = 79.92 → 80; 1005 × 8.5 % = 85.425 → 85.
    expect(yen).toMatchObject({ currency: 'JPY', currencyExponent: 0, subtotalMinor: 2004, taxMinor: 165, totalMinor: 2169 });
    expect(yen.formattedTotal).toBe('¥2,169');
    const dinar = await createDraft(owner, {
      currency: 'KWD',
      taxRatePercent: undefined,
      lines: [{ description: 'Tea', quantity: 1, unitPriceMinor: 1250 }],
    });
    expect(dinar).toMatchObject({ currencyExponent: 3, taxMinor: 0, totalMinor: 1250, formattedTotal: 'KWD 1.250', taxRatePercent: null });
  });

  it('answers bad input with BAD_USER_INPUT naming the field, storing nothing', async () => {
    const owner = userOf(randomUUID());
    const cases: [Record<string, unknown>, string][] = [
      [{ currency: 'EURO' }, 'currency'],
      [{ currency: 'XAU' }, 'currency'],
      [{ lines: [] }, 'lines'],
      [{ lines: [{ description: 'Nothing', quantity: 0, unitPriceMinor: 100 }] }, 'lines.0.quantity'],
      [{ lines: [{ description: 'Refund', quantity: 1, unitPriceMinor: -100 }] }, 'lines.0.unitPriceMinor'],
      [{ lines: [{ description: 'Odd', quantity: 1, unitPriceMinor: 100, taxRatePercent: '7.12345' }] }, 'lines.0.taxRatePercent'],
      [{ taxRatePercent: '101' }, 'taxRatePercent'],
      [{ customer: { name: '  ' } }, 'customer.name'],
      [{ customer: { name: 'Bad mail', email: 'not-an-email' } }, 'customer.email'],
      [{ lines: [{ description: 'Huge', quantity: 1_000_000, unitPriceMinor: 1_000_000 }] }, 'lines'],
    ];
    for (const [overrides, field] of cases) {
      const refused = await ask(owner, CREATE_DRAFT, { input: draftInput(overrides) });
      expect(refused.errors?.[0], JSON.stringify(overrides)).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
    }
    const malformed = await ask(owner, FIND, { id: 'not-a-uuid' });
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    expect((await data(owner, LIST)).invoices).toEqual([]);
  });

  it('lets a MEMBER write drafts but only an OWNER or ADMIN issue and void them; a VIEWER only reads', async () => {
    const tenantId = randomUUID();
    const [member, viewer, admin] = [userOf(tenantId, [Role.Member]), userOf(tenantId, [Role.Viewer]), userOf(tenantId, [Role.Admin])];
    expect(codes(await ask(viewer, CREATE_DRAFT, { input: draftInput() }))).toEqual(['FORBIDDEN']);
    expect(codes(await ask({ kind: 'anonymous' }, CREATE_DRAFT, { input: draftInput() }))).toEqual(['UNAUTHENTICATED']);
    const draft = await createDraft(member);
    expect(codes(await ask(member, ISSUE, { id: draft.id }))).toEqual(['FORBIDDEN']);
    expect(codes(await ask(viewer, VOID, { id: draft.id }))).toEqual(['FORBIDDEN']);
    expect((await data(viewer, FIND, { id: draft.id })).invoice).toMatchObject({ id: draft.id, status: 'DRAFT' });
    expect(await issue(admin, draft.id)).toMatchObject({ status: 'ISSUED', number: 'INV-2026-000001' });
  });

  it('numbers issued invoices gaplessly per tenant and year, in the order they are issued', async () => {
    const [owner, stranger] = [userOf(randomUUID()), userOf(randomUUID())];
    const drafts = [await createDraft(owner), await createDraft(owner), await createDraft(owner)];
    expect((await issue(owner, drafts[1]!.id)).number).toBe('INV-2026-000001');
    expect((await issue(stranger, (await createDraft(stranger)).id)).number).toBe('INV-2026-000001');
    expect((await issue(owner, drafts[0]!.id)).number).toBe('INV-2026-000002');
    const previous = clock;
    clock = Date.parse('2027-01-01T00:00:01.000Z');
    try {
      expect((await issue(owner, drafts[2]!.id)).number).toBe('INV-2027-000001');
    } finally {
      clock = previous;
    }
  });

  it('keeps numbers gapless under concurrent issues', async () => {
    const owner = userOf(randomUUID());
    const drafts = await Promise.all(Array.from({ length: 12 }, () => createDraft(owner)));
    const issued = await Promise.all(drafts.map((draft) => issue(owner, draft.id)));
    expect(issued.map(({ number }) => number).sort()).toEqual(
      Array.from({ length: 12 }, (_, index) => `INV-2026-${String(index + 1).padStart(6, '0')}`),
    );
  });

  it('gives the number of an issue whose transaction failed to the next issue', async () => {
    const owner = userOf(randomUUID());
    const [first, failing, next] = [await createDraft(owner), await createDraft(owner), await createDraft(owner)];
    expect((await issue(owner, first.id)).number).toBe('INV-2026-000001');
    // A posting already holding the failing issue's idempotency key makes its commit fail, after it took its number.
    const em = systemFork(invoiceGen.database);
    const blocker = em.create(LedgerPosting, {
      tenantId: owner.tenantId,
      invoiceId: failing.id,
      idempotencyKey: `invoice:${failing.id}:issued`,
      entry: {
        idempotencyKey: 'blocker',
        source: 'INVOICE',
        sourceId: failing.id,
        description: 'x',
        occurredAt: '',
        currency: 'EUR',
        lines: [],
      },
      requestedBy: owner.userId,
      status: 'REJECTED',
      attempts: 0,
      nextAttemptAt: new Date(clock),
    });
    await em.flush();
    expect(codes(await ask(owner, ISSUE, { id: failing.id }))).toEqual(['INTERNAL_SERVER_ERROR']);
    expect((await data(owner, FIND, { id: failing.id })).invoice).toMatchObject({ status: 'DRAFT', number: null });
    await em.remove(blocker).flush();
    expect((await issue(owner, next.id)).number).toBe('INV-2026-000002');
    expect((await issue(owner, failing.id)).number).toBe('INV-2026-000003');
  });

  it('moves an invoice from draft to issued to paid, and refuses the transitions that are not allowed with typed answers', async () => {
    const owner = userOf(randomUUID());
    const draft = await createDraft(owner);
    const issued = await issue(owner, draft.id);
    expect(issued).toMatchObject({ status: 'ISSUED', issuedAt: new Date(clock).toISOString() });
    expect((await data(owner, ISSUE, { id: draft.id })).issueInvoice).toMatchObject({
      __typename: 'InvoiceNotIssuable',
      invoiceId: draft.id,
      status: 'ISSUED',
    });
    const unknown = randomUUID();
    expect((await data(owner, ISSUE, { id: unknown })).issueInvoice).toEqual({
      __typename: 'InvoiceNotFound',
      invoiceId: unknown,
      message: `No invoice ${unknown}`,
    });
    const paid = (
      await data(owner, RECORD_PAYMENT, {
        input: { invoiceId: draft.id, paymentId: 'pi_1', amountMinor: 4199, currency: 'EUR', paidAt: '2026-06-16T09:00:00.000Z' },
      })
    ).recordInvoicePayment;
    expect(paid).toMatchObject({ __typename: 'Invoice', status: 'PAID', paymentId: 'pi_1', paidAt: '2026-06-16T09:00:00.000Z' });
    expect((await data(owner, VOID, { id: draft.id })).voidInvoice).toMatchObject({
      __typename: 'InvoiceNotVoidable',
      status: 'PAID',
      message: 'A paid invoice cannot be voided; refund its payment instead',
    });
  });

  it('voids a draft without posting, and an issued invoice with the reversal of its posting', async () => {
    const owner = userOf(randomUUID());
    const draft = await createDraft(owner);
    expect((await data(owner, VOID, { id: draft.id })).voidInvoice).toMatchObject({ status: 'VOID', number: null, pdfUrl: null });
    expect(await postingsOf(draft.id)).toEqual([]);

    const issued = await issue(owner, (await createDraft(owner)).id);
    const voided = (await data(owner, VOID, { id: issued.id, reason: '  Sent to the wrong customer ' })).voidInvoice;
    expect(voided).toMatchObject({ status: 'VOID', number: issued.number, voidReason: 'Sent to the wrong customer' });
    expect((await data(owner, VOID, { id: issued.id })).voidInvoice).toMatchObject({ __typename: 'InvoiceNotVoidable', status: 'VOID' });
    expect(
      (
        await data(owner, RECORD_PAYMENT, {
          input: { invoiceId: issued.id, paymentId: 'pi_late', amountMinor: 4199, currency: 'EUR', paidAt: '2026-06-16T09:00:00.000Z' },
        })
      ).recordInvoicePayment,
    ).toMatchObject({ __typename: 'InvoiceNotPayable', reason: 'NOT_ISSUED', invoiceStatus: 'VOID' });

    const postings = await postingsOf(issued.id);
    expect(postings.map(({ idempotencyKey, status }) => [idempotencyKey, status])).toEqual([
      [`invoice:${issued.id}:issued`, 'PENDING'],
      [`invoice:${issued.id}:voided`, 'PENDING'],
    ]);
    expect(postings[0]!.entry).toMatchObject({
      source: 'INVOICE',
      sourceId: issued.id,
      currency: 'EUR',
      lines: [
        { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 4199, creditMinor: 0 },
        { account: 'REVENUE', debitMinor: 0, creditMinor: 3499 },
        { account: 'TAX_PAYABLE', debitMinor: 0, creditMinor: 700 },
      ],
    });
    expect(postings[1]!.entry.lines).toEqual([
      { account: 'ACCOUNTS_RECEIVABLE', debitMinor: 0, creditMinor: 4199 },
      { account: 'REVENUE', debitMinor: 3499, creditMinor: 0 },
      { account: 'TAX_PAYABLE', debitMinor: 700, creditMinor: 0 },
    ]);
    // ledger-mgr is down: each was tried once, and waits for its next attempt.
    expect(postings.map(({ attempts, lastError }) => [attempts, lastError])).toEqual([
      [1, 'SERVICE_UNAVAILABLE'],
      [1, 'SERVICE_UNAVAILABLE'],
    ]);
  });

  it('records a payment once per payment, and refuses one that does not pay the invoice exactly', async () => {
    const owner = userOf(randomUUID());
    const invoice = await issue(owner, (await createDraft(owner)).id);
    const pay = async (paymentId: string, amountMinor: number, currency: string, invoiceId = invoice.id) =>
      (await data(owner, RECORD_PAYMENT, { input: { invoiceId, paymentId, amountMinor, currency, paidAt: '2026-06-20T10:00:00.000Z' } }))
        .recordInvoicePayment;
    expect(await pay('pi_short', 4000, 'EUR')).toMatchObject({
      __typename: 'InvoiceNotPayable',
      reason: 'AMOUNT_MISMATCH',
      invoiceStatus: 'ISSUED',
    });
    expect(await pay('pi_dollars', 4199, 'USD')).toMatchObject({ __typename: 'InvoiceNotPayable', reason: 'CURRENCY_MISMATCH' });
    const unknown = randomUUID();
    expect(await pay('pi_x', 4199, 'EUR', unknown)).toMatchObject({ reason: 'NOT_FOUND', invoiceStatus: null, invoiceId: unknown });
    const draft = await createDraft(owner);
    expect(await pay('pi_draft', 4199, 'EUR', draft.id)).toMatchObject({ reason: 'NOT_ISSUED', invoiceStatus: 'DRAFT' });

    const paid = await pay('pi_exact', 4199, 'eur');
    expect(paid).toMatchObject({ __typename: 'Invoice', status: 'PAID', paymentId: 'pi_exact' });
    expect(await pay('pi_exact', 4199, 'EUR')).toEqual(paid);
    expect(await pay('pi_second', 4199, 'EUR')).toMatchObject({
      __typename: 'InvoiceNotPayable',
      reason: 'ALREADY_PAID',
      invoiceStatus: 'PAID',
    });
    const viewer = userOf(owner.tenantId, [Role.Viewer]);
    const refused = await ask(viewer, RECORD_PAYMENT, {
      input: { invoiceId: invoice.id, paymentId: 'pi_viewer', amountMinor: 4199, currency: 'EUR', paidAt: '2026-06-20T10:00:00.000Z' },
    });
    expect(codes(refused)).toEqual(['FORBIDDEN']);
  });

  it('lists a tenant’s invoices newest first, filtered by status, currency, customer and issue date', async () => {
    const owner = userOf(randomUUID());
    const euro = await issue(owner, (await createDraft(owner)).id);
    const yen = await createDraft(owner, { currency: 'JPY', customer: { name: 'Initech 100%_Ltd' } });
    const later = clock + 2 * 24 * 60 * MINUTE_MS;
    const previous = clock;
    clock = later;
    const dollars = await issue(owner, (await createDraft(owner, { currency: 'USD' })).id);
    clock = previous;
    const ids = async (filter: Record<string, unknown>, first?: number) =>
      ((await data(owner, LIST, { filter, first })).invoices as { id: string }[]).map(({ id }) => id);

    expect(await ids({})).toEqual([dollars.id, yen.id, euro.id]);
    expect(await ids({}, 1)).toEqual([dollars.id]);
    expect(await ids({ status: ['DRAFT'] })).toEqual([yen.id]);
    expect(await ids({ status: ['ISSUED', 'PAID'], currency: 'eur' })).toEqual([euro.id]);
    expect(await ids({ customerName: '100%_l' })).toEqual([yen.id]);
    expect(await ids({ customerName: 'globex' })).toEqual([dollars.id, euro.id]);
    expect(await ids({ issuedFrom: new Date(previous + MINUTE_MS).toISOString() })).toEqual([dollars.id]);
    expect(await ids({ issuedBefore: new Date(previous + MINUTE_MS).toISOString() })).toEqual([euro.id]);
    expect(await ids({}, 0)).toEqual([]);
  });

  it('serves an issued invoice as a PDF through a signed link that expires, showing its number, lines and total', async () => {
    const owner = userOf(randomUUID());
    const draft = await createDraft(owner, { dueAt: '2026-07-15T00:00:00.000Z', memo: 'Thank you for your business.' });
    expect(draft.pdfUrl).toBeNull();
    const invoice = await issue(owner, draft.id);
    const link = new URL(invoice.pdfUrl!);
    expect(link.pathname).toBe('/invoices/pdf');
    const local = `${invoiceGen.url}${link.pathname}${link.search}`;

    const response = await fetch(local);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${invoice.number}.pdf"`);
    const text = await textOfPdf(await response.arrayBuffer());
    for (const expected of [
      invoice.number!,
      'EUR 41.99',
      'EUR 34.99',
      'EUR 7.00',
      'Widget',
      'Gadget',
      'Globex Corporation',
      'Acme Supplies GmbH',
      '2026-06-15',
      '2026-07-15',
      'Thank you for your business.',
    ]) {
      expect(text).toContain(expected);
    }

    const tampered = new URL(local);
    tampered.searchParams.set('token', `${link.searchParams.get('token')!.slice(0, -2)}xx`);
    expect((await fetch(tampered)).status).toBe(403);
    const previous = clock;
    clock += 16 * MINUTE_MS;
    try {
      expect((await fetch(local)).status).toBe(403);
    } finally {
      clock = previous;
    }
  });
});
