import { callSubgraph, clientError, ErrorCode, SubgraphRequestError, type Identity, type Logger } from '@nexusflow/kit';
import { RevokeAllSessionsDocument } from '../__generated__/session-mgr-operations.ts';

export interface UserSessionsOptions {
  sessionMgrUrl: string;
  internalSecret: string;
  logger: Logger;
}

/**
 * Ends a user's sessions through session-mgr, which has token-mgr refuse their access tokens at once: a changed password
 * or a deactivation leaves nobody signed in with what came before.
 */
export class UserSessions {
  constructor(private readonly options: UserSessionsOptions) {}

  /** Every session of `userId` (the caller's own when null), as the caller: session-mgr checks they may. */
  async endAll(caller: Identity, userId: string | null): Promise<void> {
    try {
      await callSubgraph({
        url: this.options.sessionMgrUrl,
        query: RevokeAllSessionsDocument,
        variables: { userId },
        identity: caller,
        internalSecret: this.options.internalSecret,
      });
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      this.options.logger.warn({ code: error.code }, "session-mgr could not end a user's sessions");
      throw clientError(ErrorCode.ServiceUnavailable, 'The change is saved, but the sessions could not be ended yet; try again');
    }
  }
}
