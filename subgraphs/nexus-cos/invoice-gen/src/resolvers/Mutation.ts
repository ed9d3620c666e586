import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  createInvoiceDraft: (_parent, { input }, { em, identity, services }) => services.invoices.createDraft(em, identity, input),
  issueInvoice: (_parent, { id }, { em, identity, services }) => services.invoices.issue(em, identity, id),
  voidInvoice: (_parent, { id, reason }, { em, identity, services }) => services.invoices.void(em, identity, id, reason),
  recordInvoicePayment: (_parent, { input }, { em, identity, services }) => services.invoices.recordPayment(em, identity, input),
};
