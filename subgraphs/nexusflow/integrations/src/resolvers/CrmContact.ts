import type { CrmContactResolvers } from '../__generated__/resolvers-types.ts';

export const CrmContact: CrmContactResolvers = {
  links: (contact, _args, { loaders }) => loaders.linksByRecordId.load(contact.id),
};
