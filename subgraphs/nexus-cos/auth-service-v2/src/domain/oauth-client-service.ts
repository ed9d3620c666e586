import { randomBytes, randomUUID } from 'node:crypto';
import { pageSize, parseInput, requireRole, requireUuid, Role, type EntityManager, type Identity, type Logger } from '@nexusflow/kit';
import { z } from 'zod';
import type { OAuthGrantType } from '../__generated__/resolvers-types.ts';
import { OAUTH_CLIENT_TYPES, OAuthClient } from '../entities/oauth-client.entity.ts';
import { OAuthConsent } from '../entities/oauth-consent.entity.ts';
import { ProviderRecord } from '../entities/provider-record.entity.ts';
import type { ClientSecretVault } from './client-secret-vault.ts';

const MAX_PAGE = 100;
const MAX_REDIRECT_URIS = 10;
/** Who manages an organisation's third-party apps. */
const CLIENT_ADMIN_ROLES = [Role.Owner, Role.Admin] as const;
const GRANT_TYPES = ['AUTHORIZATION_CODE', 'CLIENT_CREDENTIALS', 'REFRESH_TOKEN'] as const satisfies readonly OAuthGrantType[];
/** Loopback literals only: `localhost` may resolve elsewhere, or be listened on by another program (RFC 8252 section 8.3). */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);

/** `localhost`, a name under it (RFC 6761 keeps them all local), or either written with DNS's trailing dot. */
const namesLocalhost = (hostname: string) => /(^|\.)localhost\.?$/i.test(hostname);

/** https anywhere; http only where nothing but the user's own machine can receive the code (RFC 8252 section 7.3). */
const redirectUriSchema = z
  .string()
  .max(2000, 'must be at most 2000 characters')
  .superRefine((value, context) => {
    const url = URL.parse(value);
    if (!url) context.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    else if (namesLocalhost(url.hostname))
      context.addIssue({ code: 'custom', message: 'must name a loopback host by its address (127.0.0.1 or [::1]), not localhost' });
    else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)))
      context.addIssue({ code: 'custom', message: 'must use https, or http on a loopback host (127.0.0.1 or [::1])' });
    else if (url.hash || value.includes('#')) context.addIssue({ code: 'custom', message: 'must not have a fragment' });
  });

const registerOAuthClientInputSchema = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    clientType: z.enum(OAUTH_CLIENT_TYPES),
    grantTypes: z
      .array(z.enum(GRANT_TYPES))
      .min(1, 'must name at least one grant type')
      .refine((grantTypes) => new Set(grantTypes).size === grantTypes.length, 'must name each grant type once'),
    redirectUris: z.array(redirectUriSchema).max(MAX_REDIRECT_URIS, `must have at most ${MAX_REDIRECT_URIS} entries`),
  })
  .superRefine((input, context) => {
    const codeFlow = input.grantTypes.includes('AUTHORIZATION_CODE');
    if (input.clientType === 'PUBLIC' && input.grantTypes.includes('CLIENT_CREDENTIALS'))
      context.addIssue({ code: 'custom', path: ['grantTypes'], message: 'may not include CLIENT_CREDENTIALS for a PUBLIC client' });
    if (input.grantTypes.includes('REFRESH_TOKEN') && !codeFlow)
      context.addIssue({ code: 'custom', path: ['grantTypes'], message: 'may include REFRESH_TOKEN only with AUTHORIZATION_CODE' });
    if (codeFlow && input.redirectUris.length === 0)
      context.addIssue({ code: 'custom', path: ['redirectUris'], message: 'must have at least one entry with AUTHORIZATION_CODE' });
    if (!codeFlow && input.redirectUris.length > 0)
      context.addIssue({ code: 'custom', path: ['redirectUris'], message: 'must be empty without AUTHORIZATION_CODE' });
  });

const notFound = (id: string) => ({
  __typename: 'OAuthClientNotFound' as const,
  id,
  message: 'No OAuth client of your organisation has this id',
});

/** 256 random bits: guessing one is hopeless; it is kept encrypted, not hashed, since the provider compares it. */
const newClientSecret = () => randomBytes(32).toString('base64url');

/**
 * The third-party apps of the caller's tenant, registered through the graph: the request's unit of work sees no
 * other tenant's. Their secrets are shown once and kept encrypted by key-service; the provider has them decrypted to
 * authenticate the client.
 */
export class OAuthClientService {
  constructor(
    private readonly vault: ClientSecretVault,
    private readonly logger: Logger,
    private readonly now: () => Date,
  ) {}

  async list(em: EntityManager, first: number): Promise<OAuthClient[]> {
    const limit = pageSize(first, MAX_PAGE);
    if (limit === 0) return [];
    return em.find(OAuthClient, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** Needs OWNER or ADMIN: others are refused with FORBIDDEN, an anonymous caller with UNAUTHENTICATED. */
  async register(em: EntityManager, identity: Identity, input: unknown): Promise<{ client: OAuthClient; clientSecret: string | null }> {
    const caller = requireRole(identity, CLIENT_ADMIN_ROLES);
    const { name, clientType, grantTypes, redirectUris } = parseInput(registerOAuthClientInputSchema, input);
    const id = randomUUID();
    const clientSecret = clientType === 'CONFIDENTIAL' ? newClientSecret() : null;
    const encryptedSecret = clientSecret === null ? null : await this.vault.seal(caller, clientSecret, id);
    const client = em.create(OAuthClient, {
      id,
      tenantId: caller.tenantId,
      createdBy: caller.userId,
      name,
      clientType,
      grantTypes,
      redirectUris,
      encryptedSecret,
      secretIssuedAt: clientSecret === null ? null : this.now(),
    });
    try {
      await em.flush();
    } catch (error) {
      // key-service counts the sealed secret against its key version until told: a client that was never stored
      // would otherwise keep that version from ever being destroyed.
      if (encryptedSecret) await this.forget(caller, encryptedSecret, id);
      throw error;
    }
    return { client, clientSecret };
  }

  async rotateSecret(em: EntityManager, identity: Identity, id: string) {
    const caller = requireRole(identity, CLIENT_ADMIN_ROLES);
    const client = await em.findOne(OAuthClient, { id: requireUuid(id, 'id') });
    if (!client) return notFound(id);
    if (client.clientType === 'PUBLIC') {
      return { __typename: 'OAuthClientHasNoSecret' as const, id, message: 'A public client has no secret to rotate' };
    }
    const clientSecret = newClientSecret();
    const previous = client.encryptedSecret;
    client.encryptedSecret = await this.vault.seal(caller, clientSecret, client.id);
    client.secretIssuedAt = this.now();
    await em.flush();
    if (previous) await this.forget(caller, previous, client.id);
    return { __typename: 'RotatedOAuthClientSecret' as const, client, clientSecret };
  }

  /** Its tokens, codes and grants go with it: nothing it was issued keeps working. */
  async delete(em: EntityManager, identity: Identity, id: string) {
    const caller = requireRole(identity, CLIENT_ADMIN_ROLES);
    const client = await em.findOne(OAuthClient, { id: requireUuid(id, 'id') });
    if (!client) return notFound(id);
    await em.transactional(async (unit) => {
      await unit.nativeDelete(ProviderRecord, { clientId: client.id });
      await unit.nativeDelete(OAuthConsent, { clientId: client.id });
      await unit.nativeDelete(OAuthClient, { id: client.id });
    });
    if (client.encryptedSecret) await this.forget(caller, client.encryptedSecret, client.id);
    return { __typename: 'DeletedOAuthClient' as const, id: client.id };
  }

  /**
   * The secret is already gone from here: a failure to tell key-service only keeps its key version alive longer, which
   * its own audit shows, so it is logged, not the caller's error.
   */
  private async forget(caller: Identity, encryptedSecret: string, clientId: string): Promise<void> {
    try {
      await this.vault.forget(caller, encryptedSecret, clientId);
    } catch (error) {
      this.logger.warn({ err: error, clientId }, 'key-service did not record that a client secret is forgotten');
    }
  }
}
