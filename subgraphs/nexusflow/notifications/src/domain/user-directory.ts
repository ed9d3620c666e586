import { callSubgraph, clientError, ErrorCode, SubgraphRequestError, type Identity, type Logger } from '@nexusflow/kit';
import { NotificationRecipientDocument } from '../__generated__/auth-operations.ts';

/** A signed-in caller: whom the directory is asked for. */
export type Sender = Extract<Identity, { kind: 'user' }>;

export interface UserDirectoryOptions {
  /** The auth subgraph's GraphQL endpoint. */
  authUrl: string;
  /** Signs the sender's identity, as the gateway signs it. */
  internalSecret: string;
  logger: Logger;
}

/**
 * The users of the sender's tenant, as the auth subgraph knows them. It is asked with the sender's own identity, so it
 * answers by the rule it applies to every caller: only users of the caller's tenant are visible.
 */
export class UserDirectory {
  constructor(private readonly options: UserDirectoryOptions) {}

  /**
   * Whether `userId` is a user of the sender's tenant. Rejects with SERVICE_UNAVAILABLE while auth cannot be asked,
   * since the same question may well be answered a moment later.
   */
  async isInSendersTenant(sender: Sender, userId: string): Promise<boolean> {
    try {
      const data = await callSubgraph({
        url: this.options.authUrl,
        internalSecret: this.options.internalSecret,
        identity: sender,
        query: NotificationRecipientDocument,
        variables: { id: userId },
      });
      return data.user !== null;
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      if (error.retryable) {
        this.options.logger.warn(
          { err: error, code: error.code },
          'could not ask auth whether a recipient is a user of the sender’s tenant',
        );
        throw clientError(ErrorCode.ServiceUnavailable, 'Cannot check the recipient right now; try again shortly');
      }
      // Auth refusing the question itself (a signature it does not accept, say) is our misconfiguration, not the sender's.
      throw new Error(`auth refused to look up a recipient (${error.code}): ${error.message}`, { cause: error });
    }
  }
}
