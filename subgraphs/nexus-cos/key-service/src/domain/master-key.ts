import { createHmac } from 'node:crypto';
import { SealedBox } from '@nexusflow/kit';

const SEAL_PURPOSE = { salt: 'nexus-cos-key-service', info: 'tenant-key-version-v1' };

/** What a sealed tenant key version is bound to: a sealed value copied to another row or version does not open. */
const ownerOf = (tenantKeyId: string, version: number) => `${tenantKeyId}:${version}`;

/** Names a master key without revealing it, so that each row says which key sealed it. */
const fingerprint = (masterKey: string) => createHmac('sha256', masterKey).update('key-service master key id').digest('hex').slice(0, 16);

/**
 * The master key (KEY_SERVICE_MASTER_KEY) that seals every tenant key version at rest, and the previous ones, which
 * still open what they sealed until the maintenance pass has re-sealed it under the current one.
 */
export class MasterKeyRing {
  readonly currentId: string;
  private readonly boxes = new Map<string, SealedBox>();

  constructor(current: string, previous: readonly string[]) {
    this.currentId = fingerprint(current);
    for (const key of [current, ...previous]) {
      const id = fingerprint(key);
      if (!this.boxes.has(id)) this.boxes.set(id, new SealedBox(key, SEAL_PURPOSE));
    }
  }

  seal(material: Buffer, tenantKeyId: string, version: number): { sealedMaterial: string; masterKeyId: string } {
    const box = this.boxes.get(this.currentId)!;
    return { sealedMaterial: box.seal(material.toString('base64url'), ownerOf(tenantKeyId, version)), masterKeyId: this.currentId };
  }

  /** The material, or an error naming the master key that is missing from the configuration. */
  open(sealed: { sealedMaterial: string; masterKeyId: string | null }, tenantKeyId: string, version: number): Buffer {
    const box = this.boxes.get(sealed.masterKeyId ?? this.currentId);
    if (!box)
      throw new Error(`tenant key ${tenantKeyId} v${version} is sealed under master key ${sealed.masterKeyId}, which is not configured`);
    return Buffer.from(box.open(sealed.sealedMaterial, ownerOf(tenantKeyId, version)), 'base64url');
  }

  /** The ids of the master keys that are configured but not current, whose rows the maintenance pass re-seals. */
  get previousIds(): string[] {
    return [...this.boxes.keys()].filter((id) => id !== this.currentId);
  }
}
