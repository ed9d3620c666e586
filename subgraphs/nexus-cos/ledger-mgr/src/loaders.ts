import { loaderById, type EntityManager } from '@nexusflow/kit';
import { LedgerAccount } from './entities/ledger-account.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { ledgerAccountById: loaderById(em, LedgerAccount) };
}

export type LedgerMgrLoaders = ReturnType<typeof createLoaders>;
