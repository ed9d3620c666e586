import { forbidden } from '@nexusflow/kit';
import type { MutationResolvers, QueryResolvers } from '../__generated__/resolvers-types.ts';

/** Operation usage, read by tenant admins through the gateway, and across tenants by the schema registry. */
export const operationUsageQueries: Pick<QueryResolvers, 'operationUsage' | 'clientUsage' | 'schemaCoordinateUsage'> = {
  operationUsage: (_parent, { from, to, first }, { em, identity, services }) =>
    services.operationUsage.operations(em, identity, from, to, first ?? 50),
  clientUsage: (_parent, { from, to }, { em, identity, services }) => services.operationUsage.clients(em, identity, from, to),
  // Not in the API, so the gateway refuses it from clients; a request it forwards also carries the client's address,
  // which a signed call of the schema registry (INTERNAL_SECRET) does not.
  schemaCoordinateUsage: (_parent, { coordinates, days }, { services, clientAddress }) => {
    if (clientAddress !== undefined) throw forbidden('For services only');
    return services.operationUsage.coordinates(coordinates, days);
  },
};

export const operationUsageMutations: Pick<MutationResolvers, 'reportOperationUsage'> = {
  // The gateway's own delivery carries no client address; the reports name their tenants themselves.
  reportOperationUsage: (_parent, { reports }, { services, clientAddress }) => {
    if (clientAddress !== undefined) throw forbidden('For services only');
    return services.operationUsage.record(reports);
  },
};
