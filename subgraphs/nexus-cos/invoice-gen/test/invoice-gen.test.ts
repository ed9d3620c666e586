import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { InvoiceGenServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const CREATE = 'mutation ($input: CreateInvoiceInput!) { createInvoice(input: $input) { id name createdAt } }';
const LIST = 'query ($first: Int) { invoices(first: $first) { id name } }';
const FIND = 'query ($id: ID!) { invoice(id: $id) { id name } }';

const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe('the invoice-gen subgraph', () => {
  let under: SubgraphUnderTest<InvoiceGenServices>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('invoice-gen-behaviour', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  const create = (identity: Identity, name: string) =>
    under.ask<{ createInvoice: { id: string; name: string } }>(identity, CREATE, { input: { name } });

  it('creates a Invoice that its tenant finds by id and in its list', async () => {
    const tenantA = member(randomUUID());
    const first = (await create(tenantA, '  First  ')).data!.createInvoice;
    const second = (await create(tenantA, 'Second')).data!.createInvoice;
    expect(first.name).toBe('First');
    expect((await under.ask(tenantA, FIND, { id: first.id })).data).toEqual({ invoice: { id: first.id, name: 'First' } });
    const listed = await under.ask<{ invoices: { id: string }[] }>(tenantA, LIST, {});
    expect(listed.data?.invoices.map(({ id }) => id).sort()).toEqual([first.id, second.id].sort());
    expect((await under.ask<{ invoices: unknown[] }>(tenantA, LIST, { first: 1 })).data?.invoices).toHaveLength(1);
  });

  it("shows another tenant none of a tenant's invoices", async () => {
    const [tenantA, tenantB] = [member(randomUUID()), member(randomUUID())];
    const created = await create(tenantA, 'Private');
    expect((await under.ask(tenantB, FIND, { id: created.data?.createInvoice.id })).data).toEqual({ invoice: null });
    expect((await under.ask(tenantB, LIST, {})).data).toEqual({ invoices: [] });
  });

  it('refuses a VIEWER with FORBIDDEN and an anonymous caller with UNAUTHENTICATED, storing nothing', async () => {
    const viewer = member(randomUUID(), [Role.Viewer]);
    const refused = await create(viewer, 'Not allowed');
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await under.ask({ kind: 'anonymous' }, CREATE, { input: { name: 'Nobody' } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await under.ask(viewer, LIST, {})).data).toEqual({ invoices: [] });
  });

  it('answers a blank name and a malformed id with BAD_USER_INPUT naming the field, logging no error', async () => {
    const tenantA = member(randomUUID());
    const blank = await create(tenantA, '   ');
    expect(blank.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'name' } });
    const malformed = await under.ask(tenantA, FIND, { id: 'not-a-uuid' });
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    expect(under.loggedErrors).toEqual([]);
  });
});
