import type { MigrationObject } from '@mikro-orm/core';
import { InitialWorkflowsSchema } from './0001-initial.ts';
import { ExecutionOwner } from './0002-execution-owner.ts';
import { DurableTimers } from './0003-durable-timers.ts';
import { AbandonedAttempts } from './0004-abandoned-attempts.ts';
import { WorkflowWebhooks } from './0005-workflow-webhooks.ts';
import { WebhookSecretGrace } from './0006-webhook-secret-grace.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialWorkflowsSchema },
  { name: '0002-execution-owner', class: ExecutionOwner },
  { name: '0003-durable-timers', class: DurableTimers },
  { name: '0004-abandoned-attempts', class: AbandonedAttempts },
  { name: '0005-workflow-webhooks', class: WorkflowWebhooks },
  { name: '0006-webhook-secret-grace', class: WebhookSecretGrace },
];
