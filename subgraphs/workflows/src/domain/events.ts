import { recordEvent, type EntityManager } from '@nexusflow/kit';
import type { Execution } from '../entities/execution.entity.ts';
import type { Workflow } from '../entities/workflow.entity.ts';

/** Routing keys on the `nexusflow.events` exchange. The catalogue's seven, and the finer ones live views need. */
export enum WorkflowEvent {
  Created = 'workflow.created',
  Updated = 'workflow.updated',
  Deleted = 'workflow.deleted',
  ExecutionStarted = 'workflow.execution.started',
  ExecutionCompleted = 'workflow.execution.completed',
  ExecutionFailed = 'workflow.execution.failed',
  ExecutionPaused = 'workflow.execution.paused',
  ExecutionResumed = 'workflow.execution.resumed',
  ExecutionCancelled = 'workflow.execution.cancelled',
  StepCompleted = 'workflow.step.completed',
  StepFailed = 'workflow.step.failed',
}

/**
 * Every execution event carries the execution's whole visible state and its revision, so a live
 * subscriber can render it without a query and drop updates older than one it already has.
 */
export interface ExecutionEventPayload extends Record<string, unknown> {
  executionId: string;
  workflowId: string;
  workflowVersion: number;
  tenantId: string;
  ownerId?: string;
  status: string;
  revision: number;
  currentStep: string | null;
  stepKey?: string;
  attempt?: number;
  error?: string | null;
}

export function recordExecutionEvent(
  em: EntityManager,
  type: WorkflowEvent,
  execution: Execution,
  step?: { stepKey: string; attempt: number; error?: string | null },
): void {
  execution.revision += 1;
  const payload: ExecutionEventPayload = {
    executionId: execution.id,
    workflowId: execution.workflowId,
    workflowVersion: execution.workflowVersion,
    tenantId: execution.tenantId,
    ...(execution.ownerId ? { ownerId: execution.ownerId } : {}),
    status: execution.status,
    revision: execution.revision,
    currentStep: execution.currentStep ?? null,
    ...(step ?? {}),
    ...(step?.error === undefined && execution.errorMessage ? { error: execution.errorMessage } : {}),
  };
  recordEvent(em, { type, tenantId: execution.tenantId, payload });
}

export function recordWorkflowEvent(em: EntityManager, type: WorkflowEvent, workflow: Workflow): void {
  recordEvent(em, {
    type,
    tenantId: workflow.tenantId,
    payload: { workflowId: workflow.id, tenantId: workflow.tenantId, ownerId: workflow.ownerId, name: workflow.name, version: workflow.version, status: workflow.status },
  });
}

/** Pub/sub topics for live subscribers (the gateway's subscriptions). */
export const liveTopics = {
  execution: (executionId: string) => `workflows:execution:${executionId}`,
  workflowExecutions: (workflowId: string) => `workflows:workflow-executions:${workflowId}`,
};
