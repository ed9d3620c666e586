import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * How a Gmail or Outlook integration hears of new mail: a Gmail `users.watch` on the deployment's Pub/Sub topic, or a
 * Microsoft Graph subscription to the inbox's messages. Both expire (Gmail after 7 days, Graph's mail subscriptions
 * after about 3), so the renewal pass finds those due by `expiresAt`; stored, the renewals survive a restart.
 */
export const MailboxWatchSchema = defineEntity({
  name: 'MailboxWatch',
  tableName: 'integration_mailbox_watches',
  filters: tenantFilter(),
  properties: {
    integrationId: p.uuid().primary(),
    tenantId: p.uuid(),
    provider: p.string(),
    /** Graph's subscription id; null for Gmail, whose watch is one per mailbox. */
    subscriptionId: p.string().nullable(),
    /** Gmail: the history id the next notification lists new messages from. */
    historyId: p.string().nullable(),
    /** When the provider stops notifying; null while no watch is in place (it failed, see `lastError`). */
    expiresAt: p.datetime().nullable().index(),
    /** When the watch was last made or renewed. */
    renewedAt: p.datetime().nullable(),
    /** The provider's words when the last attempt to make or renew the watch failed. */
    lastError: p.text().nullable(),
  },
});

export class MailboxWatch extends MailboxWatchSchema.class {}
MailboxWatchSchema.setClass(MailboxWatch);
