import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { AuditEntry } from './AuditEntry.ts';
import { AuditSettings } from './AuditSettings.ts';
import { ComplianceReport } from './ComplianceReport.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  AuditEntry,
  AuditSettings,
  ComplianceReport,
};
