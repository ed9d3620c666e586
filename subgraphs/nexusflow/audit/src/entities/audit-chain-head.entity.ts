import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The end of a tenant's chain. Appends lock it (FOR UPDATE), so that two appends of one tenant never take the same
 * sequence or link to the same entry, whichever process runs them. Pruning moves `prunedThrough*` on: the anchor the
 * oldest kept entry links to.
 */
export const AuditChainHeadSchema = defineEntity({
  name: 'AuditChainHead',
  tableName: 'audit_chain_heads',
  filters: tenantFilter(),
  properties: {
    tenantId: p.uuid().primary(),
    sequence: p.bigint('number'),
    hash: p.string(),
    prunedThroughSequence: p.bigint('number'),
    prunedThroughHash: p.string(),
  },
});

export class AuditChainHead extends AuditChainHeadSchema.class {}
AuditChainHeadSchema.setClass(AuditChainHead);
