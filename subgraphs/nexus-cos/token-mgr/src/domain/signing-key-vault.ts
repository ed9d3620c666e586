import { callSubgraph, Role, type Identity } from '@nexusflow/kit';
import {
  DecryptSigningKeyDocument,
  EncryptSigningKeyDocument,
  KeyServiceReachableDocument,
  RewrapSigningKeyDocument,
} from '../__generated__/key-service-operations.ts';
import type { KeyBox } from './key-box.ts';

/**
 * The fixed tenant whose key-service key wraps platform secrets, such as token-mgr's private signing keys: no
 * organisation has this id (organisations get random v4 UUIDs).
 */
export const PLATFORM_TENANT_ID = '00000000-0000-4000-8000-000000000001';
/** Who token-mgr is in key-service's audit trail when it acts for itself. */
export const TOKEN_MGR_SERVICE_USER_ID = '00000000-0000-4000-8000-000000003005';

/** What a private key wrapped by key-service starts with in `sealedPrivateKey`; other values are sealed by {@link KeyBox}. */
const KEY_SERVICE_PREFIX = 'key-service:';

const platformIdentity: Identity = { kind: 'user', userId: TOKEN_MGR_SERVICE_USER_ID, tenantId: PLATFORM_TENANT_ID, roles: [Role.Member] };
const purposeOf = (keyId: string) => `token-mgr-signing-key:${keyId}`;

/** Where key-service listens, and the secret identities are signed with (by the real time, as key-service checks it). */
export interface KeyServiceConnection {
  url: string;
  internalSecret: string;
}

/**
 * Keeps private signing keys at rest: wrapped by key-service (envelope encryption under the platform tenant's key, the
 * key id bound as the purpose), stored as `key-service:<ciphertext>`. Keys sealed before, with TOKEN_KEY_ENCRYPTION_KEY
 * ({@link KeyBox}), still open, and {@link rewrap} moves them to key-service.
 */
export class SigningKeyVault {
  constructor(
    private readonly keyService: KeyServiceConnection,
    private readonly legacyBox: KeyBox,
  ) {}

  async seal(privateKeyPem: string, keyId: string): Promise<string> {
    const { encryptSecret } = await this.call(EncryptSigningKeyDocument, {
      input: { plaintext: privateKeyPem, purpose: purposeOf(keyId) },
    });
    return KEY_SERVICE_PREFIX + encryptSecret.ciphertext;
  }

  async open(stored: string, keyId: string): Promise<string> {
    if (!stored.startsWith(KEY_SERVICE_PREFIX)) return this.legacyBox.open(stored, keyId);
    const { decryptSecret } = await this.call(DecryptSigningKeyDocument, {
      input: { ciphertext: stored.slice(KEY_SERVICE_PREFIX.length), purpose: purposeOf(keyId) },
    });
    return decryptSecret.plaintext;
  }

  /** Whether a stored key is still sealed the old way, with TOKEN_KEY_ENCRYPTION_KEY. */
  isLegacy(stored: string): boolean {
    return !stored.startsWith(KEY_SERVICE_PREFIX);
  }

  /**
   * The stored key wrapped by the current version of the platform tenant's key: a key sealed the old way is opened and
   * wrapped by key-service; one key-service wrapped is re-wrapped there, without its private half coming back here.
   */
  async rewrap(stored: string, keyId: string): Promise<string> {
    if (this.isLegacy(stored)) return this.seal(this.legacyBox.open(stored, keyId), keyId);
    const { rewrapSecret } = await this.call(RewrapSigningKeyDocument, {
      input: { ciphertext: stored.slice(KEY_SERVICE_PREFIX.length), purpose: purposeOf(keyId) },
    });
    return KEY_SERVICE_PREFIX + rewrapSecret.ciphertext;
  }

  /** Resolves once key-service answers: token-mgr is not ready without it. */
  async ping(): Promise<void> {
    await this.call(KeyServiceReachableDocument, {});
  }

  private call<TResult, TVariables>(query: Parameters<typeof callSubgraph<TResult, TVariables>>[0]['query'], variables: TVariables) {
    return callSubgraph<TResult, TVariables>({
      url: this.keyService.url,
      query,
      variables,
      identity: platformIdentity,
      internalSecret: this.keyService.internalSecret,
      timeoutMs: 5000,
    });
  }
}
