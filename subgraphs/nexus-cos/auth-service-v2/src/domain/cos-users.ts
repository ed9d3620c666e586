import type { IncomingMessage } from 'node:http';
import { ANONYMOUS, bearerToken, callSubgraph, verifyJwksAccessToken, type Identity, type JwksAccessTokenSettings } from '@nexusflow/kit';
import { TokenMgrReachableDocument } from '../__generated__/token-mgr-operations.ts';
import { UserStandingDocument } from '../__generated__/user-auth-operations.ts';

export type CosUser = Extract<Identity, { kind: 'user' }>;

export interface TokenMgrConnection {
  url: string;
  internalSecret: string;
  now: () => number;
}

export interface UserAuthConnection {
  url: string;
  internalSecret: string;
  now: () => number;
}

/**
 * Who a COS user is, from the access token auth-service's login gave them (`Authorization: Bearer`): verified against
 * token-mgr's JWKS and revocation list by the kit's verifier, the one backend-api uses. No password reaches this service.
 */
export class CosUsers {
  constructor(
    private readonly accessTokens: JwksAccessTokenSettings,
    private readonly tokenMgr: TokenMgrConnection,
    private readonly userAuth: UserAuthConnection,
  ) {}

  /** Whether user-auth knows this user and they are active now: a deactivated or deleted user's grants issue nothing. */
  async isActive(userId: string): Promise<boolean> {
    const { userStanding } = await callSubgraph({
      url: this.userAuth.url,
      query: UserStandingDocument,
      variables: { id: userId },
      identity: ANONYMOUS,
      internalSecret: this.userAuth.internalSecret,
      now: this.userAuth.now,
    });
    return userStanding.__typename === 'ValidCredentials';
  }

  async authenticate(req: IncomingMessage): Promise<CosUser | undefined> {
    const token = bearerToken(req.headers.authorization);
    if (!token) return undefined;
    const verification = await verifyJwksAccessToken(token, this.accessTokens, this.tokenMgr.now());
    return verification.ok && verification.identity.kind === 'user' ? verification.identity : undefined;
  }

  /** Resolves once token-mgr answers: without its keys no user can authorize an app. */
  async ping(): Promise<void> {
    await callSubgraph({
      url: this.tokenMgr.url,
      query: TokenMgrReachableDocument,
      variables: {},
      identity: ANONYMOUS,
      internalSecret: this.tokenMgr.internalSecret,
      now: this.tokenMgr.now,
      timeoutMs: 2000,
    });
  }
}
