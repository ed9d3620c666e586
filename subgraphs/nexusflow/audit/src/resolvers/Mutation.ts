import { forbidden } from '@nexusflow/kit';
import type { MutationResolvers } from '../__generated__/resolvers-types.ts';

export const Mutation: MutationResolvers = {
  setAuditRetention: (_parent, { days }, { em, identity, services }) => services.log.setRetention(em, identity, days ?? null),
  placeLegalHold: (_parent, { reason }, { em, identity, services }) => services.log.placeLegalHold(em, identity, reason),
  releaseLegalHold: (_parent, _args, { em, identity, services }) => services.log.releaseLegalHold(em, identity),
  // Not in the API, so the gateway refuses it from clients; a request it forwards also carries the client's address,
  // which its own delivery of records does not. The records name their tenants themselves.
  recordGatewayAuditRecords: (_parent, { records }, { services, clientAddress }) => {
    if (clientAddress !== undefined) throw forbidden('For services only');
    return services.ingestion.ingestGatewayRecords(records);
  },
};
