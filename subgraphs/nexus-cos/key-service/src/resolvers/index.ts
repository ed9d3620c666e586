import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { DestroyTenantKeyVersionResult } from './DestroyTenantKeyVersionResult.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { TenantKey } from './TenantKey.ts';
import { TenantKeyVersion } from './TenantKeyVersion.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  TenantKey,
  TenantKeyVersion,
  DestroyTenantKeyVersionResult,
};
