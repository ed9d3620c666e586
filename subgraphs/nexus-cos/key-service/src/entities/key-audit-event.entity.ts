import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export enum KeyAuditAction {
  Encrypt = 'ENCRYPT',
  Decrypt = 'DECRYPT',
  Rewrap = 'REWRAP',
  Forget = 'FORGET',
  Rotate = 'ROTATE',
  Destroy = 'DESTROY',
}

export enum KeyAuditOutcome {
  Succeeded = 'SUCCEEDED',
  WrongPurpose = 'WRONG_PURPOSE',
  Tampered = 'TAMPERED',
  UnknownKeyVersion = 'UNKNOWN_KEY_VERSION',
  KeyVersionDestroyed = 'KEY_VERSION_DESTROYED',
  Refused = 'REFUSED',
}

export enum KeyAuditActorKind {
  User = 'USER',
  Service = 'SERVICE',
  Schedule = 'SCHEDULE',
}

/** One operation on a tenant's key, successful or not; it never holds a secret nor key material. */
export const KeyAuditEventSchema = defineEntity({
  name: 'KeyAuditEvent',
  tableName: 'key_audit_events',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantId', 'position'] }],
  properties: {
    /** Its place in the order events were recorded in: pages are cut by it. */
    position: p.bigint().primary().autoincrement(),
    id: p
      .uuid()
      .unique()
      .onCreate(() => crypto.randomUUID()),
    tenantId: p.uuid(),
    occurredAt: p.datetime(),
    action: p.enum(() => KeyAuditAction),
    outcome: p.enum(() => KeyAuditOutcome),
    actorKind: p.enum(() => KeyAuditActorKind),
    actorId: p.uuid().nullable(),
    keyVersion: p.integer().nullable(),
    previousKeyVersion: p.integer().nullable(),
    purpose: p.string().length(200).nullable(),
  },
});

export class KeyAuditEvent extends KeyAuditEventSchema.class {}
KeyAuditEventSchema.setClass(KeyAuditEvent);
