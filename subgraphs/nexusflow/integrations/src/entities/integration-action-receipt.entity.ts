import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An action at a provider (or on the tenant's CRM records) asked for with an idempotency key, such as a workflow
 * step's `<execution id>:<step key>`: recorded before the action, completed with its outcome after it. A retry under
 * the same key is answered with that outcome instead of acting again. One whose `completedAt` is still null was
 * started and its outcome never recorded (the provider's answer was lost): a retry acts again.
 */
export const IntegrationActionReceiptSchema = defineEntity({
  name: 'IntegrationActionReceipt',
  tableName: 'integration_action_receipts',
  filters: tenantFilter(),
  uniques: [{ properties: ['tenantId', 'idempotencyKey'], name: 'integration_action_receipts_key_unique' }],
  indexes: [{ properties: ['createdAt'], name: 'integration_action_receipts_created_at_index' }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    idempotencyKey: p.string(),
    /** What was asked (`postMessage`, `sendToHook`, `saveCrmContact`): a key reused for another action is refused. */
    action: p.string(),
    /** The outcome answered, as JSON; null until it is known. */
    result: p.json<Record<string, unknown>>().nullable(),
    completedAt: p.datetime().nullable(),
  },
});

export class IntegrationActionReceipt extends IntegrationActionReceiptSchema.class {}
IntegrationActionReceiptSchema.setClass(IntegrationActionReceipt);
