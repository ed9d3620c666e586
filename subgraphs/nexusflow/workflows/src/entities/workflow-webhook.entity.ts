import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** The webhook of a workflow with a WEBHOOK trigger: deliveries to its URL are signed with this secret. */
export const WorkflowWebhookSchema = defineEntity({
  name: 'WorkflowWebhook',
  tableName: 'workflow_webhooks',
  filters: tenantFilter(),
  properties: {
    workflowId: p.uuid().primary(),
    tenantId: p.uuid(),
    /** The signing secret, encrypted (see WebhookSecrets): the database alone yields no secret to sign with. */
    sealedSecret: p.text(),
    /** When the secret was made or last rotated. */
    secretCreatedAt: p.datetime(),
    /** The secret before the last rotation, sealed the same way, still accepted until `previousSecretExpiresAt`. */
    previousSealedSecret: p.text().nullable(),
    previousSecretExpiresAt: p.datetime().nullable(),
  },
});

export class WorkflowWebhook extends WorkflowWebhookSchema.class {}
WorkflowWebhookSchema.setClass(WorkflowWebhook);
