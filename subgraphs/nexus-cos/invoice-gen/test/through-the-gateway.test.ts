import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';
import { draftInput, INVOICE_FIELDS, RECORD_PAYMENT, userOf } from './fixtures.ts';

const CREATE_DRAFT = `mutation ($input: CreateInvoiceDraftInput!) { createInvoiceDraft(input: $input) { ${INVOICE_FIELDS} } }`;
const ISSUE = `mutation ($id: ID!) { issueInvoice(id: $id) { __typename
  ... on Invoice { ${INVOICE_FIELDS} } ... on InvoiceNotFound { invoiceId } ... on InvoiceNotIssuable { status } } }`;
const VOID = `mutation ($id: ID!, $reason: String) { voidInvoice(id: $id, reason: $reason) { __typename
  ... on Invoice { ${INVOICE_FIELDS} } ... on InvoiceNotFound { invoiceId } ... on InvoiceNotVoidable { status } } }`;
const FIND = `query ($id: ID!) { invoice(id: $id) { ${INVOICE_FIELDS} } }`;
const LIST = `query ($filter: InvoiceFilterInput) { invoices(filter: $filter, first: 100) { id number status currency } }`;

describe.each(storageModes(['postgres', 'redis', 'amqp']))(
  'invoices through the nexus-cos gateway (backend-api) on $storage',
  ({ mode }) => {
    let graph: GraphUnderTest;

    beforeAll(async () => {
      graph = await startGraphUnderTest('nexus-cos', ['invoice-gen'], { mode, label: `invoice_gen_gateway_${mode}` });
    });

    afterAll(async () => {
      await graph?.close();
    });

    const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>
      postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
        token: await graph.tokenFor(userOf(tenantId, roles)),
        variables,
      });
    const codes = (response: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
      response.errors?.map((error) => error.extensions?.code);

    it('lets a member draft, an owner issue and void, and a viewer read the tenant’s invoices', async () => {
      const tenantId = randomUUID();
      const draft = (await send([Role.Member], tenantId, CREATE_DRAFT, { input: draftInput() })).data?.createInvoiceDraft;
      expect(draft).toMatchObject({ status: 'DRAFT', number: null, totalMinor: 4199, formattedTotal: '€41.99' });

      const issued = (await send([Role.Owner], tenantId, ISSUE, { id: draft.id })).data?.issueInvoice;
      expect(issued).toMatchObject({ __typename: 'Invoice', status: 'ISSUED', number: expect.stringMatching(/^INV-\d{4}-000001$/) });
      expect(issued.pdfUrl).toMatch(/\/invoices\/pdf\?token=/);

      expect((await send([Role.Viewer], tenantId, FIND, { id: draft.id })).data?.invoice).toMatchObject({ id: draft.id, status: 'ISSUED' });
      expect((await send([Role.Viewer], tenantId, LIST, { filter: { status: ['ISSUED'] } })).data?.invoices).toEqual([
        { id: draft.id, number: issued.number, status: 'ISSUED', currency: 'EUR' },
      ]);

      const voided = (await send([Role.Admin], tenantId, VOID, { id: draft.id, reason: 'Duplicate' })).data?.voidInvoice;
      expect(voided).toMatchObject({ __typename: 'Invoice', status: 'VOID', voidReason: 'Duplicate', number: issued.number });
    });

    it('refuses a member’s issue and a viewer’s draft with FORBIDDEN, and a request without a token with UNAUTHENTICATED', async () => {
      const tenantId = randomUUID();
      expect(codes(await send([Role.Viewer], tenantId, CREATE_DRAFT, { input: draftInput() }))).toEqual(['FORBIDDEN']);
      const draft = (await send([Role.Member], tenantId, CREATE_DRAFT, { input: draftInput() })).data?.createInvoiceDraft;
      expect(codes(await send([Role.Member], tenantId, ISSUE, { id: draft.id }))).toEqual(['FORBIDDEN']);
      expect(codes(await send([Role.Member], tenantId, VOID, { id: draft.id }))).toEqual(['FORBIDDEN']);
      const anonymous = await postGraphQL(graph.gateway.graphqlUrl, CREATE_DRAFT, { variables: { input: draftInput() } });
      expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
    });

    it('keeps recordInvoicePayment internal: the gateway does not expose it', async () => {
      const response = await send([Role.Owner], randomUUID(), RECORD_PAYMENT, {
        input: { invoiceId: randomUUID(), paymentId: 'pi_1', amountMinor: 1, currency: 'EUR', paidAt: new Date().toISOString() },
      });
      expect(new Set(codes(response))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
      expect(response.data).toBeUndefined();
    });
  },
);
