import { describeEntityContract } from '@nexusflow/kit/testing';
import { Invoice } from '../src/entities/invoice.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('invoice-gen', {
  start: (env) => subgraph.start(env),
  entities: {
    Invoice: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(Invoice, { tenantId, createdBy: tenantId, name: `Invoice ${index}` }).id),
    },
  },
});
