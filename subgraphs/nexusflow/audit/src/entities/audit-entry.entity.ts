import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import type { HashVersion } from '../domain/chain.ts';

export type AuditActorKind = 'USER' | 'API_KEY' | 'SYSTEM';
export type AuditSource = 'EVENT' | 'MUTATION' | 'SENSITIVE_READ';
export type AuditOutcome = 'SUCCESS' | 'FAILURE';

/**
 * One link of a tenant's trail. Rows are only ever inserted (by the trail, under the tenant's chain head lock): the
 * database refuses updates and deletes (migration 0001), so the entity declares nothing that changes. `createdAt` is
 * when the trail recorded it.
 */
export const AuditEntrySchema = defineEntity({
  name: 'AuditEntry',
  tableName: 'audit_entries',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'sequence'] }],
  indexes: [{ properties: ['tenantId', 'occurredAt'] }, { properties: ['tenantId', 'createdAt', 'id'] }],
  // Created with its function by migration 0001; declared so that schema comparison knows it is meant to be there.
  triggers: [
    {
      name: 'audit_entries_append_only',
      timing: 'before',
      events: ['update', 'delete'],
      expression: `create trigger "audit_entries_append_only" before update or delete on "audit_entries"
        for each row execute function "audit_entries_append_only"()`,
    },
  ],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    sequence: p.bigint('number'),
    occurredAt: p.datetime(),
    source: p.string().$type<AuditSource>(),
    actorKind: p.string().$type<AuditActorKind>(),
    actorId: p.string().nullable(),
    action: p.string(),
    resourceType: p.string().nullable(),
    resourceId: p.string().nullable(),
    outcome: p.string().$type<AuditOutcome>(),
    details: p.json<Record<string, unknown>>(),
    ipAddress: p.string().nullable(),
    userAgent: p.text().nullable(),
    /** The bus event (or gateway record) it came from: a redelivered one is recognised by it. */
    eventId: p.uuid().nullable().unique(),
    prevHash: p.string(),
    hash: p.string(),
    /** How `hash` was made (see domain/chain.ts): entries written before keyed hashes keep version 1. */
    hashVersion: p.type('smallint').$type<HashVersion>(),
  },
});

export class AuditEntry extends AuditEntrySchema.class {}
AuditEntrySchema.setClass(AuditEntry);
