import { createHash, createHmac } from 'node:crypto';
import type { AuditActorKind, AuditOutcome, AuditSource } from '../entities/audit-entry.entity.ts';

/** What the first entry of every tenant links to: 64 zeros, a hash no content has. */
export const GENESIS_HASH = '0'.repeat(64);

/** Everything an entry says, which its hash covers; the id and the time of recording are bookkeeping and are not. */
export interface HashedContent {
  tenantId: string;
  sequence: number;
  occurredAt: Date;
  source: AuditSource;
  actorKind: AuditActorKind;
  actorId: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  ipAddress: string | null;
  userAgent: string | null;
  eventId: string | null;
}

/**
 * JSON with object keys sorted at every depth and no whitespace: the same content always gives the same text, also
 * after a round trip through `jsonb`, which keeps neither the order of keys nor their spacing.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * How an entry's hash was made. 1: SHA-256, which anyone who can write to the database can recompute after an edit.
 * 2: HMAC-SHA256 under the trail's key (AUDIT_CHAIN_KEY), which is kept out of the database, so an edit cannot be
 * made to hash right without it. Entries keep the version they were written with.
 */
export type HashVersion = 1 | 2;
export const CURRENT_HASH_VERSION: HashVersion = 2;

/**
 * Lower-case hex over the previous entry's hash, a newline, and the canonical JSON of the content: HMAC-SHA256 under
 * `key` for version 2, plain SHA-256 for version 1.
 */
export function entryHash(content: HashedContent, prevHash: string, key: string, version: HashVersion = CURRENT_HASH_VERSION): string {
  const { tenantId, sequence, occurredAt, source, actorKind, actorId, action, resourceType, resourceId, outcome } = content;
  const canonical = canonicalJson({
    tenantId,
    sequence,
    occurredAt,
    source,
    actorKind,
    actorId,
    action,
    resourceType,
    resourceId,
    outcome,
    details: content.details,
    ipAddress: content.ipAddress,
    userAgent: content.userAgent,
    eventId: content.eventId,
  });
  const digest = version === 1 ? createHash('sha256') : createHmac('sha256', key);
  return digest.update(`${prevHash}\n${canonical}`).digest('hex');
}
