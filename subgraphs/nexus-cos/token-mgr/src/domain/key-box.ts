import { SealedBox } from '@nexusflow/kit';

/**
 * How private signing keys were sealed at rest before key-service wrapped them: under TOKEN_KEY_ENCRYPTION_KEY, each
 * bound to its key id. Kept to open such keys, which the next rotation moves to key-service (see SigningKeyVault).
 */
export class KeyBox extends SealedBox {
  constructor(encryptionKey: string) {
    super(encryptionKey, { salt: 'nexus-cos-token-mgr', info: 'signing-key-v1' });
  }
}
