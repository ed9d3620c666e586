import type { Identity } from '@nexusflow/kit/core';

export interface GatewayContext {
  identity: Identity;
  requestId: string;
  /** The client's address, after the trusted proxy hops; signed to subgraphs with the identity. */
  clientAddress?: string;
  /** Aborted when the operation's time is up, so that its subgraph fetches stop too. */
  deadline?: AbortSignal;
}
