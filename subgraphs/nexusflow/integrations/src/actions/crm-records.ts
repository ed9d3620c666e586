import { requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import type { ContactInput, CrmStore } from '../domain/sync/crm-store.ts';
import { CrmContact } from '../entities/crm-contact.entity.ts';
import type { ActionReceipts } from './receipts.ts';

const WRITING_ROLES = [Role.Owner, Role.Admin, Role.Member] as const;

export interface SaveContactOptions {
  /** Without an id: change the tenant's contact with the input's email (ignoring case) when there is one. */
  matchEmail: boolean;
  /** A retry under the same key answers the contact the first write saved, and writes nothing. */
  idempotencyKey: string | null;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, '\\$&');

/**
 * Contact writes that a retry cannot duplicate, for the workflow engine's `upsertCrmRecord` and for clients that
 * retry: an upsert by email, and an idempotency key whose receipt commits with the write.
 */
export class CrmRecordWrites {
  constructor(
    private readonly store: CrmStore,
    private readonly receipts: ActionReceipts,
  ) {}

  async saveContact(em: EntityManager, identity: Identity, input: ContactInput, options: SaveContactOptions): Promise<CrmContact> {
    const caller = requireRole(identity, WRITING_ROLES);
    const email = input.email?.trim();
    const matching = options.matchEmail && !input.id && email !== undefined && email !== '';
    const key = options.idempotencyKey;
    if (!matching && key === null) return this.store.saveContact(em, identity, input);
    return em.transactional(async (tx) => {
      if (key !== null) {
        const claim = await this.receipts.claim(tx, caller.tenantId, key, 'saveCrmContact');
        const earlier = claim.kind === 'repeat' ? await tx.findOne(CrmContact, { id: String(claim.result.id) }) : null;
        if (earlier) return earlier;
      }
      let id = input.id;
      if (matching) {
        // Two writes of one new email at once would each find none and create one: the second waits for the first.
        await tx
          .getConnection()
          .execute(
            'select pg_advisory_xact_lock(hashtextextended(?, 0))',
            [`crm-contact-email:${caller.tenantId}:${email.toLowerCase()}`],
            'all',
            tx.getTransactionContext(),
          );
        const existing = await tx.findOne(
          CrmContact,
          { email: { $ilike: escapeLike(email) } },
          { orderBy: { createdAt: 'asc', id: 'asc' } },
        );
        id = existing?.id ?? null;
      }
      const contact = await this.store.saveContact(tx, identity, { ...input, id });
      if (key !== null) await this.receipts.complete(tx, caller.tenantId, key, { id: contact.id });
      return contact;
    });
  }
}
