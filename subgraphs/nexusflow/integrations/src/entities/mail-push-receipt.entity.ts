import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A Pub/Sub push of Gmail's that was handled, by Pub/Sub's `messageId`: Pub/Sub delivers at least once, and a push it
 * sends again finds its receipt and changes nothing. The deployment's, not a tenant's (one push may concern mailboxes
 * several tenants connected); kept for Pub/Sub's longest retention, 7 days.
 */
export const MailPushReceiptSchema = defineEntity({
  name: 'MailPushReceipt',
  tableName: 'integration_mail_push_receipts',
  properties: {
    messageId: p.string().primary(),
    receivedAt: p.datetime().index(),
  },
});

export class MailPushReceipt extends MailPushReceiptSchema.class {}
MailPushReceiptSchema.setClass(MailPushReceipt);
