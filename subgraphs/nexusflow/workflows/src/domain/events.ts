import { recordEvent, type EntityManager } from '@nexusflow/kit';
import type { Execution } from '../entities/execution.entity.ts';
import { WorkflowVersion } from '../entities/workflow-version.entity.ts';
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
  /** A step waits: a delay step for its time, or a failed step for the backoff before its next attempt (`attempt`). */
  StepWaiting = 'workflow.step.waiting',
  /** The backoff before a failed step's next attempt (`attempt`) ended; that attempt is queued. */
  StepRetrying = 'workflow.step.retrying',
  /** The worker running `attempt` stopped before settling it and its lease ran out; the next attempt takes over at once. */
  StepAbandoned = 'workflow.step.abandoned',
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
  /**
   * The name of the workflow at the version the execution runs, so that consumers (the notifications service) can
   * name it without asking this service. Absent from events recorded before it was added.
   */
  workflowName?: string;
  /** While the execution waits (a delay step, a retry's backoff): when it continues. Absent from events recorded before timers. */
  waitingUntil?: string | null;
}

/** What an execution event adds to the execution's state: the step it concerns, and the workflow's name. */
export interface ExecutionEventDetails {
  stepKey?: string;
  attempt?: number;
  error?: string | null;
  workflowName?: string;
}

/** What an execution event tells of its execution; recording one moves the execution's revision on. */
export type ExecutionEventSubject = Pick<
  Execution,
  'id' | 'workflowId' | 'workflowVersion' | 'tenantId' | 'ownerId' | 'status' | 'revision' | 'currentStep' | 'resumeAt' | 'errorMessage'
>;

/** The event of a change of the execution, which it numbers with the execution's next revision. */
export function executionEvent(
  type: WorkflowEvent,
  execution: ExecutionEventSubject,
  details?: ExecutionEventDetails,
): { type: WorkflowEvent; tenantId: string; payload: ExecutionEventPayload } {
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
    waitingUntil: execution.resumeAt ? execution.resumeAt.toISOString() : null,
    ...(details ?? {}),
    ...(details?.error === undefined && execution.errorMessage ? { error: execution.errorMessage } : {}),
  };
  return { type, tenantId: execution.tenantId, payload };
}

export function recordExecutionEvent(
  em: EntityManager,
  type: WorkflowEvent,
  execution: ExecutionEventSubject,
  details?: ExecutionEventDetails,
): void {
  recordEvent(em, executionEvent(type, execution, details));
}

/**
 * The workflow's name at the version the execution runs, for {@link recordExecutionEvent} where no version or workflow
 * is at hand. Undefined only if that version is gone.
 */
export async function workflowNameOf(
  em: EntityManager,
  execution: Pick<Execution, 'workflowId' | 'workflowVersion'>,
): Promise<string | undefined> {
  const version = await em.findOne(WorkflowVersion, { workflowId: execution.workflowId, version: execution.workflowVersion });
  return version?.name;
}

export function recordWorkflowEvent(em: EntityManager, type: WorkflowEvent, workflow: Workflow): void {
  recordEvent(em, {
    type,
    tenantId: workflow.tenantId,
    payload: {
      workflowId: workflow.id,
      tenantId: workflow.tenantId,
      ownerId: workflow.ownerId,
      name: workflow.name,
      version: workflow.version,
      status: workflow.status,
    },
  });
}

/** Pub/sub topics for live subscribers (the gateway's subscriptions). */
export const liveTopics = {
  execution: (executionId: string) => `workflows:execution:${executionId}`,
  workflowExecutions: (workflowId: string) => `workflows:workflow-executions:${workflowId}`,
};
