import { entityBase } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { User } from './user.entity.ts';

/**
 * A person's account at an identity provider (Google, Microsoft, GitHub) that signs them in. It is found by the
 * provider's subject, never by email: once linked, a sign-in matches it even after the email at the provider changed.
 * Global like users: it belongs to the person, whatever tenants they are a member of.
 */
export const LinkedIdentitySchema = defineEntity({
  name: 'LinkedIdentity',
  tableName: 'linked_identities',
  uniques: [{ properties: ['provider', 'subject'] }],
  properties: {
    ...entityBase,
    user: () => p.manyToOne(User).ref().deleteRule('cascade').index(),
    /** `GOOGLE`, `MICROSOFT` or `GITHUB` (see domain/identity-providers.ts). */
    provider: p.string(),
    /** The provider's stable id of the account: the ID token's `sub`, GitHub's numeric user id. */
    subject: p.string(),
    /** The email the provider vouched for at the latest sign-in, to show the person which account this is. */
    email: p.string().nullable(),
    lastUsedAt: p.datetime(),
  },
});

export class LinkedIdentity extends LinkedIdentitySchema.class {}
LinkedIdentitySchema.setClass(LinkedIdentity);
