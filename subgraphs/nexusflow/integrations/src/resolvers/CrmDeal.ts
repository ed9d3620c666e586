import type { CrmDealResolvers } from '../__generated__/resolvers-types.ts';

export const CrmDeal: CrmDealResolvers = {
  company: (deal, _args, { loaders }) => (deal.companyId ? loaders.companyById.load(deal.companyId) : null),
  links: (deal, _args, { loaders }) => loaders.linksByRecordId.load(deal.id),
};
