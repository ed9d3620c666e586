import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import {
  ADMIN_ROLES,
  badUserInput,
  parseInput,
  isUuid,
  nextOccurrence,
  recordEvent,
  requireRole,
  requireUser,
  type EntityManager,
  type Identity,
  type Logger,
} from '@nexusflow/kit';
import { z } from 'zod';
import { KeyAuditAction, KeyAuditActorKind, KeyAuditEvent, KeyAuditOutcome } from '../entities/key-audit-event.entity.ts';
import { TenantKeyVersion, KeyVersionState } from '../entities/tenant-key-version.entity.ts';
import { TenantKey } from '../entities/tenant-key.entity.ts';
import { WrappedSecret } from '../entities/wrapped-secret.entity.ts';
import {
  decryptEnvelope,
  encryptEnvelope,
  newKeyMaterial,
  parseCiphertext,
  rewrapEnvelope,
  type CiphertextParts,
  type EnvelopeFailure,
} from './envelope.ts';
import type { MasterKeyRing } from './master-key.ts';

const MAX_PLAINTEXT_BYTES = 64 * 1024;
const MAX_CIPHERTEXT_LENGTH = 128 * 1024;
/** The prefix of every event key-service publishes: `keys.audit.<action>`, e.g. `keys.audit.rotate`. */
export const AUDIT_EVENT_PREFIX = 'keys.audit';

const purposeSchema = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const encryptSchema = z.object({
  plaintext: z.string().refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_PLAINTEXT_BYTES, 'must be at most 64 KiB'),
  purpose: purposeSchema,
});
const ciphertextSchema = z.object({
  ciphertext: z.string().min(1, 'must not be empty').max(MAX_CIPHERTEXT_LENGTH, 'is too long'),
  purpose: purposeSchema,
});

/** Who an audit event names. Internal operations are always a service's, acting with a tenant's identity. */
interface Actor {
  kind: KeyAuditActorKind;
  userId: string | null;
}

const actorOf = (identity: Extract<Identity, { kind: 'user' }>, kind: KeyAuditActorKind): Actor => ({
  kind,
  userId: isUuid(identity.userId) ? identity.userId : null,
});

interface AuditEntry {
  tenantId: string;
  tenantKeyId: string | null;
  action: KeyAuditAction;
  outcome: KeyAuditOutcome;
  actor: Actor;
  keyVersion?: number | null;
  previousKeyVersion?: number | null;
  purpose?: string | null;
}

/** Why a ciphertext is refused: an audit outcome, and the BAD_USER_INPUT the caller gets. */
const REFUSALS: Record<
  Exclude<KeyAuditOutcome, KeyAuditOutcome.Succeeded | KeyAuditOutcome.Refused>,
  { field: string; message: string }
> = {
  [KeyAuditOutcome.Tampered]: { field: 'ciphertext', message: 'The ciphertext was altered or is not one key-service made' },
  [KeyAuditOutcome.WrongPurpose]: { field: 'purpose', message: 'The ciphertext was encrypted for another purpose' },
  [KeyAuditOutcome.UnknownKeyVersion]: {
    field: 'ciphertext',
    message: "The ciphertext names a key version the caller's tenant does not have",
  },
  [KeyAuditOutcome.KeyVersionDestroyed]: {
    field: 'ciphertext',
    message: 'The ciphertext was encrypted under a key version that has been destroyed',
  },
};

const outcomeOf = (failure: EnvelopeFailure) => (failure === 'WRONG_PURPOSE' ? KeyAuditOutcome.WrongPurpose : KeyAuditOutcome.Tampered);

export interface KeyVaultOptions {
  masterKeys: MasterKeyRing;
  rotationIntervalMs: number;
  now: () => Date;
  logger: Logger;
  /** Called after a flush that wrote events to the outbox, so that the relay publishes them now. */
  onEventsRecorded: () => void;
}

export type DestroyResult =
  | TenantKeyVersion
  | { __typename: 'KeyVersionInUse'; version: number; wrappedSecrets: number; message: string }
  | { __typename: 'KeyVersionNotFound'; version: number };

/**
 * Envelope encryption for the tenants' services: a fresh data key per secret, wrapped by the current version of the
 * tenant's key-encryption key, whose versions are sealed at rest under the master key. Every operation, successful or
 * not, leaves an audit event, recorded with its outbox event in the same flush.
 */
export class KeyVault {
  constructor(private readonly options: KeyVaultOptions) {}

  /** When a version made at `rotatedAt` is due for rotation: the schedule's recurrence, anchored at that version. */
  nextRotationAt(rotatedAt: Date): Date {
    return nextOccurrence({ kind: 'interval', seconds: this.options.rotationIntervalMs / 1000, anchor: rotatedAt }, rotatedAt);
  }

  async encrypt(em: EntityManager, identity: Identity, input: unknown): Promise<{ ciphertext: string; keyVersion: number }> {
    const caller = requireUser(identity);
    const { plaintext, purpose } = parseInput(encryptSchema, input);
    const tenantKey = await this.tenantKeyOf(em, caller.tenantId);
    const current = await this.versionOf(em, tenantKey.id, tenantKey.currentVersion);
    const secretId = randomUUID();
    const ciphertext = encryptEnvelope(
      this.materialOf(current!),
      { tenantKeyId: tenantKey.id, version: current!.version, secretId },
      plaintext,
      purpose,
    );
    em.create(WrappedSecret, { id: secretId, tenantId: caller.tenantId, tenantKeyId: tenantKey.id, keyVersion: current!.version });
    await this.audit(em, {
      tenantId: caller.tenantId,
      tenantKeyId: tenantKey.id,
      action: KeyAuditAction.Encrypt,
      outcome: KeyAuditOutcome.Succeeded,
      actor: actorOf(caller, KeyAuditActorKind.Service),
      keyVersion: current!.version,
      purpose,
    });
    return { ciphertext, keyVersion: current!.version };
  }

  async decrypt(
    em: EntityManager,
    identity: Identity,
    input: unknown,
  ): Promise<{ plaintext: string; keyVersion: number; needsRewrap: boolean }> {
    const caller = requireUser(identity);
    const { ciphertext, purpose } = parseInput(ciphertextSchema, input);
    const actor = actorOf(caller, KeyAuditActorKind.Service);
    const found = await this.openable(em, caller.tenantId, ciphertext, purpose, KeyAuditAction.Decrypt, actor);
    const decrypted = decryptEnvelope(this.materialOf(found.version), found.parts, purpose);
    if (typeof decrypted === 'string') {
      return this.refuse(em, found.audit, outcomeOf(decrypted));
    }
    await this.audit(em, { ...found.audit, outcome: KeyAuditOutcome.Succeeded });
    return {
      plaintext: decrypted.plaintext,
      keyVersion: found.parts.version,
      needsRewrap: found.parts.version !== found.tenantKey.currentVersion,
    };
  }

  async rewrap(em: EntityManager, identity: Identity, input: unknown): Promise<{ ciphertext: string; keyVersion: number }> {
    const caller = requireUser(identity);
    const { ciphertext, purpose } = parseInput(ciphertextSchema, input);
    const actor = actorOf(caller, KeyAuditActorKind.Service);
    const found = await this.openable(em, caller.tenantId, ciphertext, purpose, KeyAuditAction.Rewrap, actor);
    const current = (await this.versionOf(em, found.tenantKey.id, found.tenantKey.currentVersion))!;
    const rewrapped = rewrapEnvelope(this.materialOf(found.version), found.parts, purpose, {
      keyEncryptionKey: this.materialOf(current),
      version: current.version,
    });
    if (typeof rewrapped !== 'string') {
      const registered = await em.findOne(WrappedSecret, { id: found.parts.secretId });
      if (registered) registered.keyVersion = current.version;
      else
        em.create(WrappedSecret, {
          id: found.parts.secretId,
          tenantId: caller.tenantId,
          tenantKeyId: found.tenantKey.id,
          keyVersion: current.version,
        });
      await this.audit(em, {
        ...found.audit,
        outcome: KeyAuditOutcome.Succeeded,
        keyVersion: current.version,
        previousKeyVersion: found.parts.version,
      });
      return { ciphertext: rewrapped.ciphertext, keyVersion: current.version };
    }
    return this.refuse(em, found.audit, outcomeOf(rewrapped));
  }

  /** Forgets a secret its service no longer stores; forgetting one twice, or one already forgotten, is no error. */
  async forget(em: EntityManager, identity: Identity, input: unknown): Promise<boolean> {
    const caller = requireUser(identity);
    const { ciphertext, purpose } = parseInput(ciphertextSchema, input);
    const actor = actorOf(caller, KeyAuditActorKind.Service);
    const found = await this.openable(em, caller.tenantId, ciphertext, purpose, KeyAuditAction.Forget, actor, { allowDestroyed: true });
    if (found.version.state !== KeyVersionState.Destroyed) {
      // Only who can open the data key (the right tenant and purpose) may release what keeps its version alive.
      const checked = decryptEnvelope(this.materialOf(found.version), found.parts, purpose);
      if (typeof checked === 'string') return this.refuse(em, found.audit, outcomeOf(checked));
    }
    await em.nativeDelete(WrappedSecret, { id: found.parts.secretId });
    await this.audit(em, { ...found.audit, outcome: KeyAuditOutcome.Succeeded });
    return true;
  }

  /** A new current version, by an OWNER or ADMIN; the first use of a tenant key makes it with its first version. */
  async rotateByUser(em: EntityManager, identity: Identity): Promise<TenantKey> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const tenantKey = await em.findOne(TenantKey, { tenantId: caller.tenantId });
    if (!tenantKey) return this.tenantKeyOf(em, caller.tenantId);
    await this.rotate(em, tenantKey, actorOf(caller, KeyAuditActorKind.User));
    return tenantKey;
  }

  /**
   * Gives a tenant key a new current version and retires the previous one, in one transaction. Of two rotations racing
   * from the same version only the first claims it; the second keeps the first's.
   */
  async rotate(em: EntityManager, tenantKey: TenantKey, actor: Actor): Promise<void> {
    const now = this.options.now();
    const from = tenantKey.currentVersion;
    const rotated = await em.fork().transactional(async (tx) => {
      const claimed = await tx.nativeUpdate(
        TenantKey,
        { id: tenantKey.id, currentVersion: from },
        { currentVersion: from + 1, rotatedAt: now },
      );
      if (claimed === 0) return false;
      await tx.nativeUpdate(
        TenantKeyVersion,
        { tenantKeyId: tenantKey.id, state: KeyVersionState.Active },
        { state: KeyVersionState.Retired, retiredAt: now },
      );
      this.newVersion(tx, tenantKey, from + 1, now);
      this.auditInto(tx, {
        tenantId: tenantKey.tenantId,
        tenantKeyId: tenantKey.id,
        action: KeyAuditAction.Rotate,
        outcome: KeyAuditOutcome.Succeeded,
        actor,
        keyVersion: from + 1,
        previousKeyVersion: from,
      });
      return true;
    });
    if (rotated) this.options.onEventsRecorded();
    await em.refresh(tenantKey);
  }

  /** Erases a retired version's material once no secret's data key is wrapped by it. */
  async destroyVersion(em: EntityManager, identity: Identity, version: number): Promise<DestroyResult> {
    const caller = requireRole(identity, ADMIN_ROLES);
    const tenantKey = await em.findOne(TenantKey, { tenantId: caller.tenantId });
    const found = tenantKey ? await this.versionOf(em, tenantKey.id, version) : null;
    if (!tenantKey || !found) return { __typename: 'KeyVersionNotFound', version };
    const audit: AuditEntry = {
      tenantId: caller.tenantId,
      tenantKeyId: tenantKey.id,
      action: KeyAuditAction.Destroy,
      outcome: KeyAuditOutcome.Succeeded,
      actor: actorOf(caller, KeyAuditActorKind.User),
      keyVersion: version,
    };
    if (found.state === KeyVersionState.Destroyed) return found;
    const wrappedSecrets = await em.count(WrappedSecret, { tenantKeyId: tenantKey.id, keyVersion: version });
    if (found.state === KeyVersionState.Active || wrappedSecrets > 0) {
      await this.audit(em, { ...audit, outcome: KeyAuditOutcome.Refused });
      return {
        __typename: 'KeyVersionInUse',
        version,
        wrappedSecrets,
        message:
          found.state === KeyVersionState.Active
            ? 'The current version cannot be destroyed: rotate the key first'
            : `${wrappedSecrets} secret(s) still have their data key wrapped by this version: re-wrap or forget them first`,
      };
    }
    found.state = KeyVersionState.Destroyed;
    found.sealedMaterial = null;
    found.masterKeyId = null;
    found.destroyedAt = this.options.now();
    await this.audit(em, audit);
    return found;
  }

  /** The schedule's pass: rotates every tenant key whose current version is due. Returns how many it rotated. */
  async rotateDue(em: EntityManager): Promise<number> {
    const now = this.options.now();
    const due = await em.find(
      TenantKey,
      { rotatedAt: { $lte: new Date(now.getTime() - this.options.rotationIntervalMs) } },
      { orderBy: { rotatedAt: 'asc' }, limit: 500 },
    );
    let rotated = 0;
    for (const tenantKey of due) {
      if (this.nextRotationAt(tenantKey.rotatedAt) > now) continue;
      await this.rotate(em, tenantKey, { kind: KeyAuditActorKind.Schedule, userId: null });
      rotated += 1;
    }
    return rotated;
  }

  /**
   * Key-service's own re-wrap: tenant key versions sealed under a previous master key are re-sealed under the current
   * one, so that the previous key can leave the configuration. Returns how many it re-sealed.
   */
  async resealUnderCurrentMasterKey(em: EntityManager): Promise<number> {
    const { masterKeys } = this.options;
    if (masterKeys.previousIds.length === 0) return 0;
    const stale = await em.find(
      TenantKeyVersion,
      { masterKeyId: { $in: masterKeys.previousIds }, sealedMaterial: { $ne: null } },
      { limit: 500 },
    );
    for (const version of stale) {
      const material = masterKeys.open(
        { sealedMaterial: version.sealedMaterial!, masterKeyId: version.masterKeyId ?? null },
        version.tenantKeyId,
        version.version,
      );
      Object.assign(version, masterKeys.seal(material, version.tenantKeyId, version.version));
      material.fill(0);
    }
    await em.flush();
    return stale.length;
  }

  async tenantKeyForAdmin(em: EntityManager, identity: Identity): Promise<TenantKey | null> {
    const caller = requireRole(identity, ADMIN_ROLES);
    return em.findOne(TenantKey, { tenantId: caller.tenantId });
  }

  /** The caller's tenant's key, made with its first version on first use. */
  private async tenantKeyOf(em: EntityManager, tenantId: string): Promise<TenantKey> {
    const existing = await em.findOne(TenantKey, { tenantId });
    if (existing) return existing;
    const now = this.options.now();
    const fork = em.fork();
    const tenantKey = fork.create(TenantKey, { tenantId, currentVersion: 1, rotatedAt: now });
    this.newVersion(fork, tenantKey, 1, now);
    try {
      await fork.flush();
    } catch (error) {
      // Another request made the tenant's key first: its key serves.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
    return em.findOneOrFail(TenantKey, { tenantId });
  }

  private newVersion(em: EntityManager, tenantKey: TenantKey, version: number, now: Date): TenantKeyVersion {
    const material = newKeyMaterial();
    const sealed = this.options.masterKeys.seal(material, tenantKey.id, version);
    material.fill(0);
    return em.create(TenantKeyVersion, {
      tenantId: tenantKey.tenantId,
      tenantKeyId: tenantKey.id,
      version,
      state: KeyVersionState.Active,
      ...sealed,
      retiredAt: null,
      destroyedAt: null,
      createdAt: now,
    });
  }

  private versionOf(em: EntityManager, tenantKeyId: string, version: number): Promise<TenantKeyVersion | null> {
    return em.findOne(TenantKeyVersion, { tenantKeyId, version });
  }

  private materialOf(version: TenantKeyVersion): Buffer {
    return this.options.masterKeys.open(
      { sealedMaterial: version.sealedMaterial!, masterKeyId: version.masterKeyId ?? null },
      version.tenantKeyId,
      version.version,
    );
  }

  /**
   * The tenant key and version a ciphertext names, when they are the caller's tenant's and (unless allowed) not
   * destroyed; otherwise the refusal is audited and thrown. Another tenant's key is unknown to the caller.
   */
  private async openable(
    em: EntityManager,
    tenantId: string,
    ciphertext: string,
    purpose: string,
    action: KeyAuditAction,
    actor: Actor,
    options: { allowDestroyed?: boolean } = {},
  ): Promise<{ parts: CiphertextParts; tenantKey: TenantKey; version: TenantKeyVersion; audit: AuditEntry }> {
    const parts = parseCiphertext(ciphertext);
    const tenantKey = parts ? await em.findOne(TenantKey, { id: parts.tenantKeyId, tenantId }) : null;
    const audit: AuditEntry = {
      tenantId,
      tenantKeyId: tenantKey?.id ?? null,
      action,
      outcome: KeyAuditOutcome.Succeeded,
      actor,
      keyVersion: tenantKey ? parts!.version : null,
      purpose,
    };
    if (!parts) return this.refuse(em, audit, KeyAuditOutcome.Tampered);
    const version = tenantKey ? await this.versionOf(em, tenantKey.id, parts.version) : null;
    if (!tenantKey || !version) return this.refuse(em, audit, KeyAuditOutcome.UnknownKeyVersion);
    if (version.state === KeyVersionState.Destroyed && !options.allowDestroyed) {
      return this.refuse(em, audit, KeyAuditOutcome.KeyVersionDestroyed);
    }
    return { parts, tenantKey, version, audit };
  }

  private async refuse(em: EntityManager, audit: AuditEntry, outcome: keyof typeof REFUSALS): Promise<never> {
    await this.audit(em, { ...audit, outcome });
    const { field, message } = REFUSALS[outcome];
    throw badUserInput(message, { field });
  }

  private async audit(em: EntityManager, entry: AuditEntry): Promise<void> {
    this.auditInto(em, entry);
    await em.flush();
    this.options.onEventsRecorded();
  }

  /** An audit event and its outbox event, in the unit of work of `em`: both are written by its next flush. */
  private auditInto(em: EntityManager, entry: AuditEntry): void {
    const occurredAt = this.options.now();
    const event = em.create(KeyAuditEvent, {
      id: randomUUID(),
      tenantId: entry.tenantId,
      occurredAt,
      action: entry.action,
      outcome: entry.outcome,
      actorKind: entry.actor.kind,
      actorId: entry.actor.userId,
      keyVersion: entry.keyVersion ?? null,
      previousKeyVersion: entry.previousKeyVersion ?? null,
      purpose: entry.purpose ?? null,
    });
    recordEvent(
      em,
      {
        type: `${AUDIT_EVENT_PREFIX}.${entry.action.toLowerCase()}`,
        tenantId: entry.tenantId,
        payload: {
          auditEventId: event.id,
          action: entry.action,
          outcome: entry.outcome,
          actorKind: entry.actor.kind,
          actorId: entry.actor.userId,
          tenantKeyId: entry.tenantKeyId,
          keyVersion: event.keyVersion,
          previousKeyVersion: event.previousKeyVersion,
          purpose: event.purpose,
        },
      },
      occurredAt,
    );
  }
}
