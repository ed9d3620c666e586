import type { Identity } from '@nexusflow/kit/core';

export interface GatewayContext {
  identity: Identity;
  requestId: string;
  /** The client's address, after the trusted proxy hops; signed to subgraphs with the identity. */
  clientAddress?: string;
  /** The client's `User-Agent`; signed to subgraphs with the identity, so that auth can name a session's device. */
  userAgent?: string;
  /** Aborted when the operation's time is up, so that its subgraph fetches stop too. */
  deadline?: AbortSignal;
  /** The client a WebSocket's connection parameters named, for usage reporting; over HTTP its headers say. */
  client?: { name: string; version: string };
}
