import { SealedBox } from '@nexusflow/kit';

/**
 * Seals private signing keys at rest under TOKEN_KEY_ENCRYPTION_KEY, each bound to its key id, so that a copy of the
 * database alone signs nothing. key-service's envelope encryption replaces this once it exists.
 */
export class KeyBox extends SealedBox {
  constructor(encryptionKey: string) {
    super(encryptionKey, { salt: 'nexus-cos-token-mgr', info: 'signing-key-v1' });
  }
}
