import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import { Document } from '../entities/document.entity.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { AiModel } from './AiModel.ts';
import { Completion } from './Completion.ts';
import { Mutation } from './Mutation.ts';
import { PromptTemplate } from './PromptTemplate.ts';
import { Query } from './Query.ts';
import { Subscription } from './Subscription.ts';
import { UsageRecord } from './UsageRecord.ts';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Subscription,
  AiModel,
  Completion,
  PromptTemplate,
  UsageRecord,
  SuggestWorkflowStepsResult: { __resolveType: (result) => ('definition' in result ? 'WorkflowSuggestion' : 'NoValidSuggestion') },
  RemoveDocumentResult: { __resolveType: (result) => (result instanceof Document ? 'Document' : 'DocumentNotFound') },
};
