import { LRUCache } from 'lru-cache';
import { callSubgraph, Role, type Identity } from '@nexusflow/kit';
import {
  DecryptClientSecretDocument,
  EncryptClientSecretDocument,
  ForgetClientSecretDocument,
} from '../__generated__/key-service-operations.ts';

/** Who auth-service-v2 is in key-service's audit trail when it opens a secret for the provider, in no one's request. */
export const AUTH_SERVICE_V2_SERVICE_USER_ID = '00000000-0000-4000-8000-000000003002';
/** Opened secrets kept in memory, by ciphertext: a rotation makes a new ciphertext, so none is ever stale. */
const MAX_OPENED_SECRETS = 10_000;

export interface KeyServiceConnection {
  url: string;
  internalSecret: string;
  now: () => number;
}

const purposeOf = (clientId: string) => `oauth-client-secret:${clientId}`;

/**
 * OAuth client secrets at rest: encrypted by key-service under the client's tenant key (envelope encryption, the client
 * id bound as the purpose), so that neither a copy of this database nor this service's configuration opens them. The
 * provider compares a presented secret with the stored one, so it is decrypted, not hashed; once per process.
 */
export class ClientSecretVault {
  private readonly opened = new LRUCache<string, string>({ max: MAX_OPENED_SECRETS });

  constructor(private readonly keyService: KeyServiceConnection) {}

  /** Encrypts a new secret in the name of the caller registering or rotating it. */
  async seal(caller: Identity, secret: string, clientId: string): Promise<string> {
    const { encryptSecret } = await this.call(caller, EncryptClientSecretDocument, {
      input: { plaintext: secret, purpose: purposeOf(clientId) },
    });
    return encryptSecret.ciphertext;
  }

  /** Decrypts a client's secret for the provider, as a service of the client's tenant. */
  async open(ciphertext: string, clientId: string, tenantId: string): Promise<string> {
    const cached = this.opened.get(ciphertext);
    if (cached !== undefined) return cached;
    const { decryptSecret } = await this.call(this.serviceOf(tenantId), DecryptClientSecretDocument, {
      input: { ciphertext, purpose: purposeOf(clientId) },
    });
    this.opened.set(ciphertext, decryptSecret.plaintext);
    return decryptSecret.plaintext;
  }

  /** Tells key-service a secret is no longer stored (rotated or deleted), so that its key version can be destroyed. */
  async forget(caller: Identity, ciphertext: string, clientId: string): Promise<void> {
    this.opened.delete(ciphertext);
    await this.call(caller, ForgetClientSecretDocument, { input: { ciphertext, purpose: purposeOf(clientId) } });
  }

  private serviceOf(tenantId: string): Identity {
    return { kind: 'user', userId: AUTH_SERVICE_V2_SERVICE_USER_ID, tenantId, roles: [Role.Member] };
  }

  private call<TResult, TVariables>(
    identity: Identity,
    query: Parameters<typeof callSubgraph<TResult, TVariables>>[0]['query'],
    variables: TVariables,
  ) {
    return callSubgraph<TResult, TVariables>({
      url: this.keyService.url,
      query,
      variables,
      identity,
      internalSecret: this.keyService.internalSecret,
      now: this.keyService.now,
      timeoutMs: 5000,
    });
  }
}
