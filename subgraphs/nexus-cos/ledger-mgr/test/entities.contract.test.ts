import { describeEntityContract } from '@nexusflow/kit/testing';
import { LedgerAccount } from '../src/entities/ledger-account.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('ledger-mgr', {
  start: (env) => subgraph.start(env),
  entities: {
    LedgerAccount: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) => em.create(LedgerAccount, { tenantId, createdBy: tenantId, name: `LedgerAccount ${index}` }).id,
        ),
    },
  },
});
