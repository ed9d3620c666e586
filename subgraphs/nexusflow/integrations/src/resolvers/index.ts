import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Integration as IntegrationEntity } from '../entities/integration.entity.ts';
import { Integration } from './Integration.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Integration,
  CompleteIntegrationConnectionResult: {
    __resolveType: (result) => (result instanceof IntegrationEntity ? 'Integration' : 'IntegrationConnectionFailed'),
  },
  ConnectHookIntegrationResult: {
    __resolveType: (result) => (result instanceof IntegrationEntity ? 'Integration' : 'InvalidHookTarget'),
  },
  DisconnectIntegrationResult: { __resolveType: (result) => result.__typename! },
};
