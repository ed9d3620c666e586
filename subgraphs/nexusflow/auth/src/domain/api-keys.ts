import { randomBytes } from 'node:crypto';
import {
  API_KEY_PREFIX,
  hashApiKeySecret,
  isUuid,
  recordEvent,
  requireRole,
  Role,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { z } from 'zod';
import { ApiKey } from '../entities/api-key.entity.ts';
import { fieldProblems, type FieldProblem } from './validation.ts';

/** What each scope lets a key do, as the role it acts with: every subgraph enforces roles, so scopes need no code of their own. */
export const API_KEY_SCOPES = { read: Role.Viewer, write: Role.Member } as const;
export type ApiKeyScope = keyof typeof API_KEY_SCOPES;

/** `nfk_` and this many characters of the secret are kept in clear, to tell keys apart. */
const DISPLAYED_SECRET_CHARACTERS = 8;
/** A key is marked as used at most this often, so that a busy CI job does not write a row per request. */
const LAST_USED_PRECISION_MS = 60_000;

const MANAGER_ROLES = [Role.Owner, Role.Admin] as const;
const SECRET_HASH = /^[0-9a-f]{64}$/;

export type CreateApiKeyResult =
  { __typename: 'CreatedApiKey'; apiKey: ApiKey; secret: string } | { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };

export type RevokeApiKeyResult = ApiKey | { __typename: 'ApiKeyNotFound'; message: string; id: string };

/** Whom a live key acts as, for the gateway. */
export interface ApiKeyIdentity {
  id: string;
  tenantId: string;
  roles: Role[];
  expiresAt: Date | null;
}

export class ApiKeys {
  private readonly inputSchema = z.object({
    name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    scopes: z
      .array(z.string().refine((scope) => Object.hasOwn(API_KEY_SCOPES, scope), { error: 'must be read or write' }))
      .min(1, 'must name at least one scope')
      .transform((scopes) => [...new Set(scopes)].sort()),
    expiresAt: z
      .date()
      .nullish()
      .refine((expiresAt) => !expiresAt || expiresAt.getTime() > this.now(), { error: 'must be in the future' }),
  });

  constructor(private readonly now: () => number = Date.now) {}

  /** The caller's tenant's keys: the unit of work sees no other tenant's. */
  async list(em: EntityManager, identity: Identity): Promise<ApiKey[]> {
    requireRole(identity, MANAGER_ROLES);
    return em.find(ApiKey, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: 500 });
  }

  async create(em: EntityManager, identity: Identity, input: unknown): Promise<CreateApiKeyResult> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const parsed = this.inputSchema.safeParse(input);
    if (!parsed.success) return { __typename: 'InvalidInput', message: 'Some fields are invalid', fields: fieldProblems(parsed.error) };
    const secret = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const apiKey = em.create(ApiKey, {
      tenantId: caller.tenantId,
      name: parsed.data.name,
      scopes: parsed.data.scopes,
      prefix: secret.slice(0, API_KEY_PREFIX.length + DISPLAYED_SECRET_CHARACTERS),
      secretHash: hashApiKeySecret(secret),
      createdBy: caller.userId,
      expiresAt: parsed.data.expiresAt ?? null,
      lastUsedAt: null,
      revokedAt: null,
      createdAt: new Date(this.now()),
    });
    recordEvent(em, {
      type: 'apikey.created',
      tenantId: caller.tenantId,
      payload: { apiKeyId: apiKey.id, scopes: apiKey.scopes, createdBy: caller.userId },
    });
    await em.flush();
    return { __typename: 'CreatedApiKey', apiKey, secret };
  }

  /** Revoking a revoked key keeps its first revocation time. */
  async revoke(em: EntityManager, identity: Identity, id: string): Promise<RevokeApiKeyResult> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const apiKey = isUuid(id) ? await em.findOne(ApiKey, { id }) : null;
    if (!apiKey) return { __typename: 'ApiKeyNotFound', message: `No API key ${id}`, id };
    if (!apiKey.revokedAt) {
      apiKey.revokedAt = new Date(this.now());
      recordEvent(em, { type: 'apikey.revoked', tenantId: apiKey.tenantId, payload: { apiKeyId: apiKey.id, revokedBy: caller.userId } });
    }
    await em.flush();
    return apiKey;
  }

  /**
   * The live key whose secret hashes to `secretHash`, across every tenant (so `em` is a system unit of work), and marks
   * it used. Unknown, revoked and expired keys are all null: the gateway refuses them alike.
   */
  async authenticate(em: EntityManager, secretHash: string): Promise<ApiKeyIdentity | null> {
    if (!SECRET_HASH.test(secretHash)) return null;
    const apiKey = await em.findOne(ApiKey, { secretHash, revokedAt: null });
    const now = new Date(this.now());
    if (!apiKey || (apiKey.expiresAt && apiKey.expiresAt <= now)) return null;
    if (!apiKey.lastUsedAt || now.getTime() - apiKey.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
      // Conditional, so that gateways asking at once write the row once.
      await em.nativeUpdate(
        ApiKey,
        { id: apiKey.id, $or: [{ lastUsedAt: null }, { lastUsedAt: { $lte: new Date(now.getTime() - LAST_USED_PRECISION_MS) } }] },
        { lastUsedAt: now },
      );
    }
    const roles = apiKey.scopes.flatMap((scope) => (Object.hasOwn(API_KEY_SCOPES, scope) ? [API_KEY_SCOPES[scope as ApiKeyScope]] : []));
    return { id: apiKey.id, tenantId: apiKey.tenantId, roles, expiresAt: apiKey.expiresAt ?? null };
  }
}
