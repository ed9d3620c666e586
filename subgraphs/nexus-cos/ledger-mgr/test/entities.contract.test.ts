import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { JournalEntry } from '../src/entities/journal-entry.entity.ts';
import { JournalLine } from '../src/entities/journal-line.entity.ts';
import { LedgerAccount } from '../src/entities/ledger-account.entity.ts';
import { subgraph } from '../src/subgraph.ts';

/** Distinct three-letter currencies, so that many accounts of one code can belong to one tenant. */
const currency = (index: number) => `Q${String.fromCharCode(65 + Math.floor(index / 26))}${String.fromCharCode(65 + (index % 26))}`;

describeEntityContract('ledger-mgr', {
  start: (env) => subgraph.start(env),
  entities: {
    LedgerAccount: {
      selection: 'code currency name normalBalance balanceMinor',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(LedgerAccount, { tenantId, code: 'CASH', currency: currency(index) }).id),
    },
    JournalEntry: {
      selection: 'idempotencyKey amountMinor lines { accountCode debitMinor creditMinor account { code } }',
      create: (em, tenantId, count) => {
        const cash = em.create(LedgerAccount, { id: randomUUID(), tenantId, code: 'CASH', currency: 'EUR' });
        const receivable = em.create(LedgerAccount, { id: randomUUID(), tenantId, code: 'ACCOUNTS_RECEIVABLE', currency: 'EUR' });
        return Array.from({ length: count }, (_, index) => {
          const id = randomUUID();
          const occurredAt = new Date();
          em.create(JournalEntry, {
            id,
            tenantId,
            idempotencyKey: `payment:pi_contract_${index}`,
            source: 'PAYMENT',
            sourceId: `pi_contract_${index}`,
            description: 'A payment',
            occurredAt,
            postedAt: occurredAt,
            currency: 'EUR',
            amountMinor: 100,
            contentHash: 'contract'.padEnd(64, '0'),
          });
          for (const [position, account] of [cash, receivable].entries()) {
            em.create(JournalLine, {
              id: randomUUID(),
              tenantId,
              entryId: id,
              position,
              accountId: account.id,
              accountCode: account.code,
              occurredAt,
              debitMinor: position === 0 ? 100 : 0,
              creditMinor: position === 0 ? 0 : 100,
            });
          }
          return id;
        });
      },
    },
  },
});
