import type { CrmCompanyResolvers } from '../__generated__/resolvers-types.ts';

export const CrmCompany: CrmCompanyResolvers = {
  links: (company, _args, { loaders }) => loaders.linksByRecordId.load(company.id),
};
