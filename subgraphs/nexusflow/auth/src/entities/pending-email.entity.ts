import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An email auth owes someone, kept until the notifications service has taken it, so that neither an outage of that
 * service nor a restart loses it. `sealed` is encrypted (domain/mailer.ts), since it may carry a secret link: either
 * the email itself, or (`composed` false) what its composer needs to write it when it is first sent.
 */
export const PendingEmailSchema = defineEntity({
  name: 'PendingEmail',
  tableName: 'pending_emails',
  properties: {
    ...entityBase,
    /** The notifications service's template key, e.g. `auth.verify-email`. */
    template: p.string(),
    composed: p.boolean(),
    sealed: p.text(),
    attempts: p.integer(),
    /** Due from then; a sender holding it pushes it forward while it works, so that no other instance sends it too. */
    nextAttemptAt: p.datetime().index(),
    /** Not worth sending after this, e.g. once its link has expired. */
    expiresAt: p.datetime(),
    /** The error code of the latest failed attempt. */
    lastError: p.string().nullable(),
  },
});

export class PendingEmail extends PendingEmailSchema.class {}
PendingEmailSchema.setClass(PendingEmail);
