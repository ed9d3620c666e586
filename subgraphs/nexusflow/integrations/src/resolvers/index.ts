import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Integration as IntegrationEntity } from '../entities/integration.entity.ts';
import { CrmDeal as CrmDealEntity } from '../entities/crm-deal.entity.ts';
import { CrmCompany } from './CrmCompany.ts';
import { CrmContact } from './CrmContact.ts';
import { CrmDeal } from './CrmDeal.ts';
import { Integration } from './Integration.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { Subscription } from './Subscription.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Subscription,
  CrmContact,
  CrmCompany,
  CrmDeal,
  Integration,
  CompleteIntegrationConnectionResult: {
    __resolveType: (result) => (result instanceof IntegrationEntity ? 'Integration' : 'IntegrationConnectionFailed'),
  },
  ConnectHookIntegrationResult: {
    __resolveType: (result) => (result instanceof IntegrationEntity ? 'Integration' : result.__typename!),
  },
  DisconnectIntegrationResult: { __resolveType: (result) => result.__typename! },
  SaveFieldMappingsResult: { __resolveType: (result) => result.__typename! },
  SyncIntegrationResult: { __resolveType: (result) => ('__typename' in result ? result.__typename! : 'SyncRun') },
  ResolveSyncConflictResult: { __resolveType: (result) => result.__typename! },
  CrmRecord: { __resolveType: (record) => (record instanceof CrmDealEntity ? 'CrmDeal' : 'CrmCompany') },
  RotateIntegrationWebhookSecretResult: { __resolveType: (result) => result.__typename! },
  PostIntegrationMessageResult: { __resolveType: (result) => result.__typename! },
  SendIntegrationHookResult: { __resolveType: (result) => result.__typename! },
  IntegrationMessagesResult: { __resolveType: (result) => result.__typename! },
  IntegrationMessageResult: { __resolveType: (result) => result.__typename! },
  WatchIntegrationMailboxResult: { __resolveType: (result) => result.__typename! },
};
