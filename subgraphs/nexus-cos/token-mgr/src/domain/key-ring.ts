import { randomUUID } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import type { EntityManager } from '@nexusflow/kit';
import { SigningKey } from '../entities/signing-key.entity.ts';
import type { SigningKeyVault } from './signing-key-vault.ts';

export const SIGNING_ALGORITHM = 'EdDSA';
const CURVE = 'Ed25519';

export interface RotationPolicy {
  /** How long a key signs before its successor takes over. */
  intervalMs: number;
  /** How long before it signs a successor is published. */
  publicationLeadMs: number;
  /** How long a token lives: a retired key stays published this long after its last signature. */
  tokenTtlMs: number;
}

/** A published key as a JWKS lists it. */
export type PublishedJwk = JWK & { kid: string; alg: string; use: 'sig' };

const isPublished = (key: SigningKey, now: Date) => key.publishedAt <= now && (!key.expiresAt || key.expiresAt > now);

/**
 * The keys token-mgr signs with, rotated with overlap: a successor is published `publicationLeadMs` before it starts
 * signing (verifiers that cached the JWKS meet its `kid` only after they could have fetched it), and a retired key stays
 * published until the last token it signed has expired. Every instance rotates; the database keeps one successor per
 * activation time, so instances racing to rotate agree.
 */
export class KeyRing {
  private readonly privateKeys = new Map<string, Promise<CryptoKey>>();
  private readonly publicKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly vault: SigningKeyVault,
    private readonly policy: RotationPolicy,
  ) {}

  /**
   * Makes the first key, publishes a successor when one is due, retires and prunes: what the schedule runs. Private
   * keys still sealed the old way move to key-service at once; when a successor is made, the others are re-wrapped by
   * the current version of the platform tenant's key-service key.
   */
  async rotate(em: EntityManager, now: Date): Promise<void> {
    const keys = await em.find(SigningKey, {}, { orderBy: { activatesAt: 'asc' } });
    const newest = keys.at(-1);
    let rotated = true;
    if (!newest) {
      // Nobody can have cached a JWKS without it: the first key signs at once.
      await this.create(em, now, now);
    } else if (now.getTime() >= newest.activatesAt.getTime() + this.policy.intervalMs - 2 * this.policy.publicationLeadMs) {
      const due = newest.activatesAt.getTime() + this.policy.intervalMs;
      await this.create(em, now, new Date(Math.max(due, now.getTime() + this.policy.publicationLeadMs)));
    } else {
      rotated = false;
    }
    for (const key of keys) {
      const expired = key.expiresAt !== null && key.expiresAt !== undefined && key.expiresAt <= now;
      if (!expired && (rotated || this.vault.isLegacy(key.sealedPrivateKey))) {
        key.sealedPrivateKey = await this.vault.rewrap(key.sealedPrivateKey, key.id);
      }
    }
    const ordered = await em.find(SigningKey, {}, { orderBy: { activatesAt: 'asc' } });
    ordered.forEach((key, index) => {
      const successor = ordered[index + 1];
      if (successor && !key.retiresAt) {
        key.retiresAt = successor.activatesAt;
        key.expiresAt = new Date(successor.activatesAt.getTime() + this.policy.tokenTtlMs);
      }
    });
    for (const key of ordered) if (key.expiresAt && key.expiresAt <= now) em.remove(key);
    await em.flush();
  }

  private async create(em: EntityManager, now: Date, activatesAt: Date): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: CURVE, extractable: true });
    const id = randomUUID();
    const { kty, crv, x } = await exportJWK(publicKey);
    const fork = em.fork();
    fork.create(SigningKey, {
      id,
      algorithm: SIGNING_ALGORITHM,
      publicJwk: { kty: kty!, crv: crv!, x: x! },
      sealedPrivateKey: await this.vault.seal(await exportPKCS8(privateKey), id),
      publishedAt: now,
      activatesAt,
      retiresAt: null,
      expiresAt: null,
    });
    try {
      await fork.flush();
    } catch (error) {
      // Another instance published the successor for this activation time first: its key serves.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
  }

  /** The newest key whose time to sign has come. */
  async activeKey(em: EntityManager, now: Date): Promise<{ id: string; privateKey: CryptoKey }> {
    const key = await em.findOne(SigningKey, { activatesAt: { $lte: now } }, { orderBy: { activatesAt: 'desc' } });
    if (!key) throw new Error('token-mgr has no signing key yet; its rotation makes the first one at start-up');
    let privateKey = this.privateKeys.get(key.id);
    if (!privateKey) {
      privateKey = this.vault.open(key.sealedPrivateKey, key.id).then((pem) => importPKCS8(pem, SIGNING_ALGORITHM));
      this.privateKeys.set(key.id, privateKey);
      // A key-service outage must not stay cached: the next signature asks again.
      privateKey.catch(() => this.privateKeys.delete(key.id));
    }
    return { id: key.id, privateKey: await privateKey };
  }

  /** The keys verifiers may meet now, newest first. */
  async published(em: EntityManager, now: Date): Promise<SigningKey[]> {
    const keys = await em.find(SigningKey, {}, { orderBy: { activatesAt: 'desc' } });
    return keys.filter((key) => isPublished(key, now));
  }

  async jwks(em: EntityManager, now: Date): Promise<{ keys: PublishedJwk[] }> {
    const keys = await this.published(em, now);
    return { keys: keys.map((key) => ({ ...key.publicJwk, kid: key.id, alg: key.algorithm, use: 'sig' })) };
  }

  /** The public key of a published key, or undefined for a key id that is not (or no longer) published. */
  async publicKey(em: EntityManager, keyId: string, now: Date): Promise<CryptoKey | undefined> {
    const key = await em.findOne(SigningKey, { id: keyId });
    if (!key || !isPublished(key, now)) return undefined;
    let publicKey = this.publicKeys.get(key.id);
    if (!publicKey) {
      publicKey = importJWK(key.publicJwk, key.algorithm) as Promise<CryptoKey>;
      this.publicKeys.set(key.id, publicKey);
    }
    return publicKey;
  }
}
