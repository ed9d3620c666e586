import { isUuid, redactSecrets, storableText, type DomainEvent } from '@nexusflow/kit';
import { z } from 'zod';
import type { AuditActorKind } from '../entities/audit-entry.entity.ts';
import type { NewAuditEntry } from './trail.ts';

/** The type of the records the gateway publishes for mutations and sensitive reads (gateway/src/features/audit.ts). */
export const GATEWAY_RECORD_TYPE = 'audit.gateway.recorded';

const text = z.string().max(2000);

/** A gateway record as it arrives: checked, since a malformed one must be recorded as best it can, not crash the consumer. */
const gatewayRecordSchema = z.object({
  source: z.enum(['MUTATION', 'SENSITIVE_READ']),
  actor: z.object({ kind: z.enum(['USER', 'API_KEY']), id: text }),
  roles: z.array(text).default([]),
  operationName: text.nullable().default(null),
  action: text,
  resourceType: text.nullable().default(null),
  resourceId: text.nullable().default(null),
  outcome: z.enum(['SUCCESS', 'FAILURE']),
  errorCodes: z.array(text).default([]),
  fields: z.array(text).default([]),
  variables: z.record(z.string(), z.unknown()).default({}),
  arguments: z
    .record(z.string(), z.unknown())
    .nullish()
    .transform((values) => values ?? {}),
  ipAddress: text.nullable().default(null),
  userAgent: text.nullable().default(null),
  requestId: text.nullable().default(null),
});

export type GatewayRecord = z.infer<typeof gatewayRecordSchema>;

const orNull = (value: unknown) => (typeof value === 'string' && value !== '' ? storableText(value.slice(0, 255)) : null);

/** Keys of a payload naming who acted, most specific first (`revokedBy`, `invitedBy`… then the subject itself). */
function actorOf(payload: Record<string, unknown>): { kind: AuditActorKind; id: string | null } {
  if (typeof payload.apiKeyId === 'string' && payload.via === 'api-key') return { kind: 'API_KEY', id: payload.apiKeyId };
  const by = Object.entries(payload).find(([key, value]) => /By$/.test(key) && typeof value === 'string');
  const id = by?.[1] ?? payload.actorId ?? payload.userId;
  return typeof id === 'string' ? { kind: 'USER', id: storableText(id.slice(0, 255)) } : { kind: 'SYSTEM', id: null };
}

/** The thing an event is about: `member.role.changed` is about a member, named by `memberId`, `id` or the first `…Id`. */
function resourceOf(type: string, payload: Record<string, unknown>): { resourceType: string; resourceId: string | null } {
  const resourceType = type.split('.')[0]!;
  const named = payload[`${resourceType}Id`] ?? payload.id ?? Object.entries(payload).find(([key]) => key.endsWith('Id'))?.[1];
  return { resourceType: storableText(resourceType.slice(0, 255)), resourceId: orNull(named) };
}

/**
 * The entry an event on the bus becomes; undefined for an event of no tenant (a failed sign-in of an unknown address),
 * which no tenant's trail can hold.
 */
export function entryOfEvent(event: DomainEvent): NewAuditEntry | undefined {
  if (!event.tenantId || !isUuid(event.tenantId)) return undefined;
  const eventId = isUuid(event.id) ? event.id : null;
  const occurredAt = Number.isNaN(Date.parse(event.occurredAt)) ? new Date() : new Date(event.occurredAt);
  if (event.type === GATEWAY_RECORD_TYPE) {
    const parsed = gatewayRecordSchema.safeParse(event.payload);
    if (parsed.success) return entryOfGatewayRecord(event.tenantId, eventId, occurredAt, parsed.data);
  }
  const payload = event.payload ?? {};
  const actor = actorOf(payload);
  return {
    tenantId: event.tenantId,
    eventId,
    occurredAt,
    source: 'EVENT',
    actorKind: actor.kind,
    actorId: actor.id,
    action: storableText(event.type.slice(0, 255)),
    ...resourceOf(event.type, payload),
    outcome: /(^|\.)(failed|refused|rejected|denied)($|\.)/.test(event.type) ? 'FAILURE' : 'SUCCESS',
    details: redactSecrets(payload) as Record<string, unknown>,
    ipAddress: orNull(payload.clientAddress ?? payload.ipAddress),
    userAgent: orNull(payload.userAgent),
  };
}

function entryOfGatewayRecord(tenantId: string, eventId: string | null, occurredAt: Date, record: GatewayRecord): NewAuditEntry {
  return {
    tenantId,
    eventId,
    occurredAt,
    source: record.source,
    actorKind: record.actor.kind,
    actorId: storableText(record.actor.id.slice(0, 255)),
    action: storableText(record.action.slice(0, 255)),
    resourceType: orNull(record.resourceType),
    resourceId: orNull(record.resourceId),
    outcome: record.outcome,
    // Redacted again here: the gateway redacts before publishing, and an older gateway might not have.
    details: redactSecrets({
      operationName: record.operationName,
      roles: record.roles,
      fields: record.fields,
      variables: record.variables,
      arguments: record.arguments,
      errors: record.errorCodes,
      requestId: record.requestId,
    }) as Record<string, unknown>,
    ipAddress: orNull(record.ipAddress),
    userAgent: orNull(record.userAgent),
  };
}
