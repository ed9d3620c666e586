import { describeEntityContract } from '@nexusflow/kit/testing';
import { Invoice } from '../src/entities/invoice.entity.ts';
import { subgraph } from '../src/subgraph.ts';

const party = { name: 'Contract Customer', email: null, address: null, taxId: null };

describeEntityContract('invoice-gen', {
  start: (env) => subgraph.start(env),
  entities: {
    Invoice: {
      selection: 'number status totalMinor formattedTotal customer { name } lines { description taxRatePercent totalMinor }',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) =>
            em.create(Invoice, {
              tenantId,
              createdBy: tenantId,
              status: 'DRAFT',
              number: null,
              currency: 'EUR',
              currencyExponent: 2,
              taxRatePpm: 200_000,
              subtotalMinor: 1000,
              taxMinor: 200,
              totalMinor: 1200,
              seller: party,
              customer: party,
              lines: [
                {
                  position: 1,
                  description: `Line of invoice ${index}`,
                  quantity: 1,
                  unitPriceMinor: 1000,
                  amountMinor: 1000,
                  taxRatePpm: 200_000,
                  taxMinor: 200,
                },
              ],
            }).id,
        ),
    },
  },
});
