import { createHash } from 'node:crypto';
import { isUuid, redactSecrets, type DomainEvent } from '@nexusflow/kit';

/** What one bus event becomes in `analytics_events`. */
export interface EventRow {
  id: string;
  occurredAt: Date;
  tenantId: string;
  type: string;
  userId: string | null;
  subjectId: string | null;
  subjectIds: Record<string, string>;
  durationMs: number | null;
  status: string | null;
  tokens: number | null;
  payload: Record<string, unknown>;
}

/** The event types the usage metrics read; published by workflows, ai and integrations. */
export const EventType = {
  UserRegistered: 'user.registered',
  ExecutionStarted: 'workflow.execution.started',
  ExecutionCompleted: 'workflow.execution.completed',
  ExecutionFailed: 'workflow.execution.failed',
  ExecutionCancelled: 'workflow.execution.cancelled',
  AiUsageRecorded: 'ai.usage.recorded',
  SyncCompleted: 'integration.sync.completed',
  SyncFailed: 'integration.sync.failed',
} as const;

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value.slice(0, 255) : null);
const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : null);

/**
 * A UUID for an event id that is none, the same for every delivery of the event, so that a redelivery is still
 * recognised (the store's key is a UUID).
 */
function uuidOf(id: string): string {
  if (isUuid(id)) return id.toLowerCase();
  const hex = createHash('sha256').update(`analytics-event:${id}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The user who acted: the most specific key first (`revokedBy`, `connectedBy`…), then the subject user, then the owner. */
function userOf(payload: Record<string, unknown>): string | null {
  const by = Object.entries(payload).find(([key, value]) => /By$/.test(key) && typeof value === 'string');
  return text(by?.[1] ?? payload.actorId ?? payload.userId ?? payload.ownerId);
}

function subjectIdsOf(payload: Record<string, unknown>): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload))
    if (key.endsWith('Id') && key !== 'tenantId' && typeof value === 'string' && value !== '') ids[key] = value.slice(0, 255);
  return ids;
}

/** `workflow.execution.completed` is about an execution: `executionId`, else the first id of its payload. */
function subjectOf(type: string, ids: Record<string, string>): string | null {
  const words = type.split('.');
  for (let index = words.length - 2; index >= 0; index -= 1) {
    const named = ids[`${words[index]}Id`];
    if (named) return named;
  }
  return Object.values(ids)[0] ?? null;
}

/** The row an event becomes; undefined for an event of no tenant (a failed sign-in of an unknown address). */
export function rowOfEvent(event: DomainEvent): EventRow | undefined {
  if (!event.tenantId || !isUuid(event.tenantId)) return undefined;
  const parsed = Date.parse(event.occurredAt);
  const payload = event.payload ?? {};
  const subjectIds = subjectIdsOf(payload);
  const inputTokens = count(payload.inputTokens);
  const outputTokens = count(payload.outputTokens);
  return {
    id: uuidOf(event.id),
    // An unreadable time would make every delivery a new row; the epoch keeps them one (and shows it is unknown).
    occurredAt: Number.isNaN(parsed) ? new Date(0) : new Date(parsed),
    tenantId: event.tenantId.toLowerCase(),
    type: event.type.slice(0, 255),
    userId: userOf(payload),
    subjectId: subjectOf(event.type, subjectIds),
    subjectIds,
    durationMs: count(payload.durationMs ?? payload.latencyMs),
    status: text(payload.status),
    tokens: inputTokens === null && outputTokens === null ? count(payload.tokens) : (inputTokens ?? 0) + (outputTokens ?? 0),
    payload: redactSecrets(payload) as Record<string, unknown>,
  };
}
