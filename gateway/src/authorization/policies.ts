import type { Identity } from '@nexusflow/kit/core';

/** What a policy may look at: the caller, as the gateway verified it, and the request it came with. */
export interface PolicyRequest {
  identity: Identity;
  /** The client's address, after the trusted proxy hops. */
  clientAddress?: string;
  userAgent?: string;
}

/** A named rule `@policy(policies: [["name"]])` refers to: decided by the gateway, per request, before planning. */
export interface Policy {
  /** What it allows, for people reading the registry. */
  description: string;
  allows(request: PolicyRequest): boolean;
}

/**
 * The policies a subgraph may name in `@policy`. A supergraph naming any other is refused when it loads, never served
 * with the unknown policy allowed or refused by accident. To add one, add an entry here (a pure function of the caller
 * and the request: no I/O, since it runs for every operation that selects a field carrying it) and document it in the
 * README's "Authorization directives".
 */
export const POLICIES: ReadonlyMap<string, Policy> = new Map<string, Policy>([
  [
    'human',
    {
      description: 'A person signed in with their own credentials (an access token from login or register), not an API key',
      // An API key's identity says so (api-keys.ts); a session id would not do, as access tokens signed before sessions existed carry none.
      allows: ({ identity }) => identity.kind === 'user' && identity.via !== 'api-key',
    },
  ],
]);
