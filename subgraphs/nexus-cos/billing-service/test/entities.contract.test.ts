import { describeEntityContract } from '@nexusflow/kit/testing';
import { Payment } from '../src/entities/payment.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('billing-service', {
  start: (env) => subgraph.start(env),
  entities: {
    Payment: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(Payment, { tenantId, createdBy: tenantId, name: `Payment ${index}` }).id),
    },
  },
});
