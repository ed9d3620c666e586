import { DateTimeScalar, JSONScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Execution } from './Execution.ts';
import { ExecutionUpdate } from './ExecutionUpdate.ts';
import { Mutation } from './Mutation.ts';
import { Query } from './Query.ts';
import { resultType } from './results.ts';
import { StepRun } from './StepRun.ts';
import { Subscription } from './Subscription.ts';
import { Tenant } from './Tenant.ts';
import { User } from './User.ts';
import { Workflow } from './Workflow.ts';

const union = { __resolveType: resultType } as never;

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query,
  Mutation,
  Subscription,
  ExecutionUpdate,
  Workflow,
  Execution,
  StepRun,
  User,
  Tenant,
  WorkflowResult: union,
  DeleteWorkflowResult: union,
  RunWorkflowResult: union,
  ExecutionTransitionResult: union,
  RotateWorkflowWebhookSecretResult: union,
  WorkflowError: union,
};
