import { hkdfSync } from 'node:crypto';
import { SealedBox } from '@nexusflow/kit';

const SALT = 'nexus-cos-auth-service-v2';

/**
 * What auth-service-v2 keeps under OAUTH_KEY_ENCRYPTION_KEY: its private signing keys, sealed and each bound to its key
 * id, so that a copy of the database alone signs nothing; and the key its cookies are signed with. Client secrets are
 * key-service's to encrypt (client-secret-vault.ts).
 */
export class SealedSecrets {
  private readonly signingKeys: SealedBox;
  /** Signs the provider's cookies (interaction and session), derived so that it opens none of the sealed values. */
  readonly cookieKey: string;

  constructor(encryptionKey: string) {
    this.signingKeys = new SealedBox(encryptionKey, { salt: SALT, info: 'oauth-signing-key-v1' });
    this.cookieKey = Buffer.from(hkdfSync('sha256', encryptionKey, SALT, 'oauth-cookie-v1', 32)).toString('base64url');
  }

  sealSigningKey(privateJwk: string, keyId: string): string {
    return this.signingKeys.seal(privateJwk, keyId);
  }

  openSigningKey(sealed: string, keyId: string): string {
    return this.signingKeys.open(sealed, keyId);
  }
}
