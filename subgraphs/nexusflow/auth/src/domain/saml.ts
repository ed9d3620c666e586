import { randomUUID } from 'node:crypto';
import {
  generateServiceProviderMetadata,
  SAML,
  SamlStatusError,
  ValidateInResponseTo,
  type Profile,
  type SamlConfig,
} from '@node-saml/node-saml';
import { isUuid, recordEvent, requireRole, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { SamlConnection } from '../entities/saml-connection.entity.ts';
import { SamlRequest } from '../entities/saml-request.entity.ts';
import { Tenant } from '../entities/tenant.entity.ts';
import { UsedSamlAssertion } from '../entities/used-saml-assertion.entity.ts';
import type { AuthService, AuthSession } from './auth-service.ts';
import {
  childElements,
  descendants,
  parseXml,
  readIdpMetadata,
  readSigningCertificate,
  SAML_ASSERTION_NS,
  SAML_PROTOCOL_NS,
  type IdentityProvider,
} from './saml-metadata.ts';
import type { SessionClient } from './sessions.ts';
import { fieldProblems, type FieldProblem } from './validation.ts';

const MANAGER_ROLES = [Role.Owner, Role.Admin] as const;
const EMAIL_NAME_ID_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
/** How far the IdP's clock may be from ours when judging an assertion's validity window. */
export const SAML_CLOCK_SKEW_MS = 60_000;
/** How long an IdP may take to answer a sign-in this service started. */
export const SAML_REQUEST_TTL_MS = 10 * 60_000;
/** The SAML bindings cap RelayState at 80 bytes. */
const MAX_RELAY_STATE_BYTES = 80;
/** Far above any real response (a few KB); refused before parsing. */
const MAX_RESPONSE_CHARACTERS = 512 * 1024;

/** Where assertions carry the email when the NameID is not one: the common attribute names of IdPs. */
const EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'emailAddress',
  'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];
const NAME_ATTRIBUTES = [
  'displayName',
  'name',
  'urn:oid:2.16.840.1.113730.3.1.241',
  'http://schemas.microsoft.com/identity/claims/displayname',
];

export type SamlSignInProblem =
  | 'NOT_CONFIGURED'
  | 'UNKNOWN_IDP'
  | 'INVALID_SIGNATURE'
  | 'WRONG_AUDIENCE'
  | 'WRONG_RECIPIENT'
  | 'EXPIRED'
  | 'REPLAYED'
  | 'UNKNOWN_REQUEST'
  | 'NO_EMAIL'
  | 'EMAIL_DOMAIN_NOT_ALLOWED'
  | 'ACCOUNT_NOT_A_MEMBER'
  | 'IDP_ERROR'
  | 'MALFORMED';

const problemMessages: Record<SamlSignInProblem, string> = {
  NOT_CONFIGURED: 'This organisation has no SAML single sign-on configured',
  UNKNOWN_IDP: 'The response comes from an identity provider this organisation did not configure',
  INVALID_SIGNATURE: "The response is not signed by the identity provider's certificate, or was changed after signing",
  WRONG_AUDIENCE: 'The assertion is meant for another service provider',
  WRONG_RECIPIENT: "The response was sent to another address than this organisation's assertion consumer service",
  EXPIRED: 'The assertion is outside its validity window; sign in again',
  REPLAYED: 'The assertion was already used; sign in again',
  UNKNOWN_REQUEST: 'The response answers no sign-in this service started, or one already answered or expired',
  NO_EMAIL: 'The assertion carries no email address',
  EMAIL_DOMAIN_NOT_ALLOWED: "The email's domain is not one this organisation allows",
  ACCOUNT_NOT_A_MEMBER: 'An account with this email exists and is not a member of this organisation; ask an admin to invite it',
  IDP_ERROR: 'The identity provider did not sign the person in',
  MALFORMED: 'The response is not a SAML 2.0 response',
};

export interface SamlSignInFailed {
  __typename: 'SamlSignInFailed';
  message: string;
  reason: SamlSignInProblem;
}

const failed = (reason: SamlSignInProblem): SamlSignInFailed => ({
  __typename: 'SamlSignInFailed',
  message: problemMessages[reason],
  reason,
});

type InvalidInput = { __typename: 'InvalidInput'; message: string; fields: FieldProblem[] };
const invalidInput = (fields: FieldProblem[]): InvalidInput => ({ __typename: 'InvalidInput', message: 'Some fields are invalid', fields });

export type ConfigureSamlConnectionResult = SamlConnection | InvalidInput;
export type StartSamlSignInResult = { __typename: 'SamlSignInRedirect'; url: string; expiresAt: Date } | SamlSignInFailed | InvalidInput;
export type CompleteSamlSignInResult = AuthSession | SamlSignInFailed;

export interface SamlServiceProvider {
  entityId: string;
  acsUrl: string;
  metadataXml: string;
}

export interface SamlSettings {
  /** The origin (and path prefix) of the service provider's URLs, without a trailing slash. */
  spBaseUrl: string;
  /** Signs in the people whose assertions pass. */
  auth: Pick<AuthService, 'signInExternal'>;
  /** Called after a flush that wrote events to the outbox, so that the relay publishes them without waiting for its poll. */
  onEventsRecorded?: () => void;
  now: () => number;
}

/**
 * node-saml judges validity windows by the machine's clock; this one judges them by the service's, so that expiry is
 * the same for the library's checks (Conditions) and ours (SubjectConfirmationData, replay records).
 */
class ClockedSaml extends SAML {
  constructor(
    config: SamlConfig,
    private readonly clock: () => number,
  ) {
    super(config);
  }

  protected override checkTimestampsValidityError(_machineNow: number, notBefore: string, notOnOrAfter: string, maxTimeLimitMs?: number) {
    return super.checkTimestampsValidityError(this.clock(), notBefore, notOnOrAfter, maxTimeLimitMs);
  }
}

/** What node-saml's refusals mean, by their messages (pinned library version; each one is covered by a test). */
function problemOf(error: unknown): SamlSignInProblem {
  if (error instanceof SamlStatusError) return 'IDP_ERROR';
  const message = error instanceof Error ? error.message : '';
  if (/signature/i.test(message)) return 'INVALID_SIGNATURE';
  if (/expired|not yet valid/i.test(message)) return 'EXPIRED';
  if (/audience/i.test(message)) return 'WRONG_AUDIENCE';
  return 'MALFORMED';
}

const domainPattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const connectionInput = z
  .object({
    metadataXml: z.string().max(1_000_000, 'must be at most 1 MB').nullish(),
    idpEntityId: z.string().trim().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters').nullish(),
    ssoUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2048, 'must be at most 2048 characters')
      .nullish(),
    signingCertificate: z.string().max(20_000, 'must be at most 20,000 characters').nullish(),
    jitRole: z
      .enum(Role)
      .nullish()
      .transform((role) => role ?? Role.Member)
      .refine((role) => role !== Role.Owner, { error: 'must not be OWNER: a tenant has one owner' }),
    allowedEmailDomains: z
      .array(z.string().trim().toLowerCase().regex(domainPattern, { error: 'must be a domain name, e.g. example.com' }))
      .max(100, 'must name at most 100 domains')
      .nullish()
      .transform((domains) => [...new Set(domains ?? [])].sort()),
  })
  .superRefine((input, context) => {
    const fields = (['idpEntityId', 'ssoUrl', 'signingCertificate'] as const).filter((field) => input[field] != null);
    if (input.metadataXml != null) {
      for (const field of fields)
        context.addIssue({ code: 'custom', path: [field], message: 'must be left out when metadataXml is given' });
      return;
    }
    for (const field of ['idpEntityId', 'ssoUrl', 'signingCertificate'] as const) {
      if (input[field] == null) context.addIssue({ code: 'custom', path: [field], message: 'is required unless metadataXml is given' });
    }
  });

/**
 * SAML 2.0 single sign-on per tenant (Web Browser SSO profile, HTTP-Redirect out, HTTP-POST back): a tenant's OWNER or
 * ADMIN configures their IdP, and people it vouches for sign in to that tenant, becoming members on their first visit.
 * Signatures, audience and validity are checked by node-saml; recipient, issuer, InResponseTo and replay here.
 */
export class SamlSso {
  constructor(private readonly settings: SamlSettings) {}

  entityIdOf(tenantId: string): string {
    return `${this.settings.spBaseUrl}/saml/${tenantId}`;
  }

  acsUrlOf(tenantId: string): string {
    return `${this.entityIdOf(tenantId)}/acs`;
  }

  /** The caller's tenant's IdP, or null when it has none. */
  async connection(em: EntityManager, identity: Identity): Promise<SamlConnection | null> {
    const caller = requireRole(identity, MANAGER_ROLES);
    return em.findOne(SamlConnection, { tenantId: caller.tenantId });
  }

  /** What the tenant's IdP is told about this service: its entity id, where to send assertions, and both as metadata. */
  serviceProvider(identity: Identity): SamlServiceProvider {
    const { tenantId } = requireRole(identity, MANAGER_ROLES);
    const entityId = this.entityIdOf(tenantId);
    const acsUrl = this.acsUrlOf(tenantId);
    const metadataXml = generateServiceProviderMetadata({
      issuer: entityId,
      callbackUrl: acsUrl,
      identifierFormat: EMAIL_NAME_ID_FORMAT,
      wantAssertionsSigned: true,
      // The same document every time: its ID only has to be an XML id.
      generateUniqueId: () => `_${tenantId}`,
    });
    return { entityId, acsUrl, metadataXml };
  }

  /** Sets (or replaces) the caller's tenant's IdP, from its metadata or from its entity id, sign-on URL and certificate. */
  async configure(em: EntityManager, identity: Identity, input: unknown): Promise<ConfigureSamlConnectionResult> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const parsed = connectionInput.safeParse(input);
    if (!parsed.success) return invalidInput(fieldProblems(parsed.error));
    const { metadataXml, jitRole, allowedEmailDomains } = parsed.data;

    let idp: IdentityProvider;
    if (metadataXml != null) {
      const read = readIdpMetadata(metadataXml);
      if (!read.ok) return invalidInput([{ field: 'metadataXml', problem: read.problem }]);
      if (!z.url({ protocol: /^https?$/ }).safeParse(read.idp.ssoUrl).success) {
        return invalidInput([{ field: 'metadataXml', problem: 'has a SingleSignOnService Location that is not an http(s) URL' }]);
      }
      idp = read.idp;
    } else {
      idp = { entityId: parsed.data.idpEntityId!, ssoUrl: parsed.data.ssoUrl!, signingCertificate: parsed.data.signingCertificate! };
    }
    const certificate = readSigningCertificate(idp.signingCertificate);
    if (!certificate) {
      return invalidInput([
        { field: metadataXml != null ? 'metadataXml' : 'signingCertificate', problem: 'is not an X.509 certificate (PEM or base64 DER)' },
      ]);
    }

    const settings = {
      idpEntityId: idp.entityId,
      ssoUrl: idp.ssoUrl,
      signingCertificate: certificate.pem,
      certificateFingerprint: certificate.fingerprint,
      certificateExpiresAt: certificate.expiresAt,
      jitRole,
      allowedEmailDomains,
      configuredBy: caller.userId,
    };
    const existing = await em.findOne(SamlConnection, { tenantId: caller.tenantId });
    const connection = existing
      ? em.assign(existing, settings)
      : em.create(SamlConnection, { id: randomUUID(), tenantId: caller.tenantId, ...settings });
    recordEvent(em, {
      type: 'saml.connection.configured',
      tenantId: caller.tenantId,
      payload: { connectionId: connection.id, configuredBy: caller.userId, jitRole },
    });
    try {
      await em.flush();
    } catch (error) {
      // Two first configurations at once: the unique tenant index keeps one; this one replaces it, as it would a moment later.
      if (!(error instanceof UniqueConstraintViolationException) || existing) throw error;
      em.clear();
      return this.configure(em, identity, input);
    }
    this.settings.onEventsRecorded?.();
    return connection;
  }

  /** Removes the caller's tenant's IdP: SAML sign-ins to the tenant stop at once; members and their sessions stay. */
  async remove(em: EntityManager, identity: Identity): Promise<boolean> {
    const caller = requireRole(identity, MANAGER_ROLES);
    const connection = await em.findOne(SamlConnection, { tenantId: caller.tenantId });
    if (!connection) return false;
    em.remove(connection);
    recordEvent(em, {
      type: 'saml.connection.removed',
      tenantId: caller.tenantId,
      payload: { connectionId: connection.id, removedBy: caller.userId },
    });
    await em.flush();
    this.settings.onEventsRecorded?.();
    await em.nativeDelete(SamlRequest, { tenantId: caller.tenantId });
    return true;
  }

  /**
   * Starts an SP-initiated sign-in: the URL to send the person's browser to, at their tenant's IdP. The request's id is
   * kept, so that the answer is accepted once and for this tenant only. `em` is a system unit of work.
   */
  async startSignIn(em: EntityManager, tenantSlug: string, relayState: string | null | undefined): Promise<StartSamlSignInResult> {
    if (relayState && Buffer.byteLength(relayState) > MAX_RELAY_STATE_BYTES) {
      return invalidInput([{ field: 'relayState', problem: `must be at most ${MAX_RELAY_STATE_BYTES} bytes` }]);
    }
    const tenant = await em.findOne(Tenant, { slug: tenantSlug });
    const connection = tenant && (await em.findOne(SamlConnection, { tenantId: tenant.id }));
    // An unknown organisation and one without SAML answer alike: sign-in pages do not list tenants.
    if (!connection) return failed('NOT_CONFIGURED');
    const expiresAt = new Date(this.settings.now() + SAML_REQUEST_TTL_MS);
    const request = em.create(SamlRequest, { id: randomUUID(), tenantId: connection.tenantId, expiresAt });
    const url = await this.samlFor(connection, {
      entryPoint: connection.ssoUrl,
      generateUniqueId: () => `_${request.id}`,
    }).getAuthorizeUrlAsync(relayState ?? '', undefined, {});
    await em.flush();
    return { __typename: 'SamlSignInRedirect', url, expiresAt };
  }

  /**
   * Signs in the person a tenant's IdP vouches for, from the base64 SAMLResponse the IdP posted to the tenant's ACS URL.
   * Every refusal is a typed reason, and leaves no user, membership or session behind. `em` is a system unit of work.
   */
  async completeSignIn(em: EntityManager, samlResponse: string, client: SessionClient): Promise<CompleteSamlSignInResult> {
    if (samlResponse.length > MAX_RESPONSE_CHARACTERS) return failed('MALFORMED');
    const document = parseXml(Buffer.from(samlResponse, 'base64').toString('utf8'));
    const response = document?.documentElement;
    if (!response || response.namespaceURI !== SAML_PROTOCOL_NS || response.localName !== 'Response') return failed('MALFORMED');

    // Unverified, only to find whose certificate to verify it with: every one of these is checked again once it is.
    const tenantId = this.tenantAddressedBy(response);
    if (!tenantId) return failed('WRONG_AUDIENCE');
    const connection = await em.findOne(SamlConnection, { tenantId });
    if (!connection) return failed('NOT_CONFIGURED');
    const [claimedAssertion] = childElements(response, SAML_ASSERTION_NS, 'Assertion');
    const claimedIssuer = issuerOf(claimedAssertion) ?? issuerOf(response);
    if (claimedIssuer !== connection.idpEntityId) return failed('UNKNOWN_IDP');

    let profile: Profile;
    try {
      const validated = await this.samlFor(connection).validatePostResponseAsync({ SAMLResponse: samlResponse });
      if (!validated.profile) return failed('MALFORMED');
      profile = validated.profile;
    } catch (error) {
      return failed(problemOf(error));
    }
    // From here on, only what the signature covers: the assertion node-saml verified.
    const assertion = parseXml(profile.getAssertionXml?.() ?? '')?.documentElement;
    if (!assertion) return failed('MALFORMED');
    if (profile.issuer !== connection.idpEntityId) return failed('UNKNOWN_IDP');

    const acsUrl = this.acsUrlOf(tenantId);
    const destination = response.getAttribute('Destination');
    const confirmation = bearerConfirmationOf(assertion);
    if (!confirmation || confirmation.getAttribute('Recipient') !== acsUrl || (destination && destination !== acsUrl)) {
      return failed('WRONG_RECIPIENT');
    }
    const window = this.validityOf(assertion, confirmation);
    if (window === 'malformed') return failed('MALFORMED');
    if (window === 'expired') return failed('EXPIRED');

    const assertionId = assertion.getAttribute('ID') ?? '';
    if (!assertionId || assertionId.length > 255) return failed('MALFORMED');
    try {
      // Committed on its own, before anything else: a second use waits for nothing and finds it.
      await em.insert(UsedSamlAssertion, { tenantId, assertionId, expiresAt: window.keepUntil });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) return failed('REPLAYED');
      throw error;
    }

    const inResponseTo = confirmation.getAttribute('InResponseTo') || response.getAttribute('InResponseTo') || null;
    const responseInResponseTo = response.getAttribute('InResponseTo');
    if (inResponseTo && responseInResponseTo && responseInResponseTo !== inResponseTo) return failed('UNKNOWN_REQUEST');
    if (inResponseTo && !(await this.answer(em, tenantId, inResponseTo))) return failed('UNKNOWN_REQUEST');

    const email = emailOf(profile);
    if (!email) return failed('NO_EMAIL');
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (connection.allowedEmailDomains.length > 0 && !connection.allowedEmailDomains.includes(domain)) {
      return failed('EMAIL_DOMAIN_NOT_ALLOWED');
    }
    const signedIn = await this.settings.auth.signInExternal(
      em,
      { email, name: nameOf(profile) ?? email },
      { tenantId, jitRole: connection.jitRole },
      client,
      'saml',
    );
    if (signedIn.__typename === 'NotAMember') return failed('ACCOUNT_NOT_A_MEMBER');
    return signedIn;
  }

  /** Deletes answered-or-not requests and used assertions past their expiry; returns how many rows went. */
  async prune(em: EntityManager): Promise<number> {
    const now = new Date(this.settings.now());
    const requests = await em.nativeDelete(SamlRequest, { expiresAt: { $lte: now } });
    const assertions = await em.nativeDelete(UsedSamlAssertion, { expiresAt: { $lte: now } });
    return requests + assertions;
  }

  /** node-saml configured for one tenant's IdP and this service's side of it. */
  private samlFor(connection: SamlConnection, extra: Partial<SamlConfig> = {}): SAML {
    return new ClockedSaml(
      {
        idpCert: connection.signingCertificate,
        issuer: this.entityIdOf(connection.tenantId),
        audience: this.entityIdOf(connection.tenantId),
        callbackUrl: this.acsUrlOf(connection.tenantId),
        identifierFormat: EMAIL_NAME_ID_FORMAT,
        // Either the whole response or its assertion must carry the IdP's signature; IdPs differ in which they sign.
        wantAuthnResponseSigned: false,
        wantAssertionsSigned: false,
        acceptedClockSkewMs: SAML_CLOCK_SKEW_MS,
        // Checked here, against requests kept in the database, so that every auth instance knows them.
        validateInResponseTo: ValidateInResponseTo.never,
        // IdPs with MFA or passwordless sign-in refuse a request that insists on a password.
        disableRequestedAuthnContext: true,
        ...extra,
      },
      this.settings.now,
    );
  }

  /** The tenant whose SP URLs the response names, as its Destination, an Audience or a Recipient. */
  private tenantAddressedBy(response: Element): string | null {
    const prefix = `${this.settings.spBaseUrl}/saml/`;
    const addresses = [
      response.getAttribute('Destination'),
      ...descendants(response, SAML_ASSERTION_NS, 'Audience').map((node) => node.textContent),
      ...descendants(response, SAML_ASSERTION_NS, 'SubjectConfirmationData').map((node) => node.getAttribute('Recipient')),
    ];
    for (const address of addresses) {
      const tenantId = address?.trim().startsWith(prefix)
        ? address
            .trim()
            .slice(prefix.length)
            .replace(/\/acs$/, '')
        : undefined;
      if (tenantId && isUuid(tenantId)) return tenantId;
    }
    return null;
  }

  /**
   * Whether the bearer confirmation is within its window (the library checks the Conditions), and until when the
   * assertion must be remembered to refuse it again: the earlier of both ends, plus the clock skew.
   */
  private validityOf(assertion: Element, confirmation: Element): { keepUntil: Date } | 'expired' | 'malformed' {
    const now = this.settings.now();
    const instant = (value: string | null) => (value ? Date.parse(value) : undefined);
    const notOnOrAfter = instant(confirmation.getAttribute('NotOnOrAfter'));
    const notBefore = instant(confirmation.getAttribute('NotBefore'));
    const [conditions] = childElements(assertion, SAML_ASSERTION_NS, 'Conditions');
    const conditionsEnd = instant(conditions?.getAttribute('NotOnOrAfter') ?? null);
    // The Web SSO profile requires the bearer confirmation to end: without an end, no record could refuse a replay.
    if (notOnOrAfter === undefined || Number.isNaN(notOnOrAfter) || Number.isNaN(notBefore) || Number.isNaN(conditionsEnd)) {
      return 'malformed';
    }
    if (now - SAML_CLOCK_SKEW_MS >= notOnOrAfter || (notBefore !== undefined && now + SAML_CLOCK_SKEW_MS < notBefore)) return 'expired';
    return { keepUntil: new Date(Math.min(notOnOrAfter, conditionsEnd ?? notOnOrAfter) + SAML_CLOCK_SKEW_MS) };
  }

  /** Takes the pending request the response answers, once: the conditional delete decides between concurrent answers. */
  private async answer(em: EntityManager, tenantId: string, inResponseTo: string): Promise<boolean> {
    const id = inResponseTo.slice(1);
    if (!inResponseTo.startsWith('_') || !isUuid(id)) return false;
    const taken = await em.nativeDelete(SamlRequest, { id, tenantId, expiresAt: { $gt: new Date(this.settings.now()) } });
    return taken === 1;
  }
}

function issuerOf(element: Element | undefined): string | undefined {
  if (!element) return undefined;
  return childElements(element, SAML_ASSERTION_NS, 'Issuer')[0]?.textContent?.trim() || undefined;
}

function bearerConfirmationOf(assertion: Element): Element | undefined {
  const [subject] = childElements(assertion, SAML_ASSERTION_NS, 'Subject');
  if (!subject) return undefined;
  return childElements(subject, SAML_ASSERTION_NS, 'SubjectConfirmation')
    .filter((confirmation) => confirmation.getAttribute('Method') === BEARER)
    .flatMap((confirmation) => childElements(confirmation, SAML_ASSERTION_NS, 'SubjectConfirmationData'))[0];
}

const emailSchema = z.email().max(254);

/** The NameID when it is an email address, else the first email attribute. */
function emailOf(profile: Profile): string | undefined {
  const candidates = [
    profile.nameIDFormat === EMAIL_NAME_ID_FORMAT ? profile.nameID : undefined,
    ...EMAIL_ATTRIBUTES.map((name) => profile[name]),
  ];
  for (const candidate of candidates) {
    const value: unknown = Array.isArray(candidate) ? candidate[0] : candidate;
    if (typeof value !== 'string') continue;
    const parsed = emailSchema.safeParse(value.trim().toLowerCase());
    if (parsed.success) return parsed.data;
  }
  return undefined;
}

function nameOf(profile: Profile): string | undefined {
  for (const attribute of NAME_ATTRIBUTES) {
    const value = profile[attribute];
    if (typeof value === 'string' && value.trim()) return value.trim().slice(0, 200);
  }
  const given = profile.givenName ?? profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname'];
  const family = profile.sn ?? profile.surname ?? profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname'];
  const full = [given, family].filter((part): part is string => typeof part === 'string' && part.trim() !== '').join(' ');
  return full ? full.slice(0, 200) : undefined;
}
