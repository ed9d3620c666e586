import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import forge from 'node-forge';
import { SignedXml } from 'xml-crypto';
import { listenOnLoopback, type LoopbackServer } from '@nexusflow/kit/testing';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const EXCLUSIVE_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/** A key pair and its self-signed certificate, as an IdP signs with. */
export interface SigningKey {
  privateKey: string;
  certificate: string;
}

/** A new RSA key (Node's own generator) in a self-signed X.509 certificate (node-forge), valid from yesterday for a year. */
export function newSigningKey(commonName = 'Fake SAML IdP'): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(publicKey);
  certificate.serialNumber = `01${randomBytes(8).toString('hex')}`;
  certificate.validity.notBefore = new Date(Date.now() - 86_400_000);
  certificate.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  const name = [{ name: 'commonName', value: commonName }];
  certificate.setSubject(name);
  certificate.setIssuer(name);
  certificate.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { privateKey, certificate: forge.pki.certificateToPem(certificate) };
}

/** The base64 body of a PEM certificate, as metadata carries it. */
const certificateBody = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** Who the IdP says signed in, and everything a test may bend about how it says it. */
export interface AssertionOptions {
  email: string;
  name?: string;
  /** The SP's ACS URL: the Recipient of the bearer confirmation and the response's Destination. */
  acsUrl: string;
  /** The SP's entity id: the assertion's Audience. */
  audience: string;
  /** The AuthnRequest answered; unset: IdP-initiated. */
  inResponseTo?: string;
  /** Overrides the Recipient alone (the Destination stays the ACS URL unless `destination` says otherwise). */
  recipient?: string;
  destination?: string;
  /** Which element carries the signature. @default 'assertion' */
  sign?: 'assertion' | 'response';
  /** Signs with this key instead of the IdP's own (the certificate the SP trusts). */
  signingKey?: SigningKey;
  /** Names another IdP as the Issuer. */
  issuer?: string;
  /** The assertion's ID; reuse one to replay. */
  assertionId?: string;
  /** When the IdP says it issued the assertion; the window is this instant ± `validForMs`. @default now */
  issuedAt?: Date;
  /** @default 5 minutes */
  validForMs?: number;
  /** The email as an attribute rather than as the NameID (which is then a persistent opaque id). */
  emailAsAttribute?: boolean;
  /** Answers with this second-level status (e.g. `AuthnFailed`, the person cancelled) and no assertion, unsigned as IdPs do. */
  failure?: string;
  /** Rewrites the signed document, as an attacker would: the signature no longer covers what it says. */
  tamper?: (signedXml: string) => string;
}

/** An AuthnRequest as the IdP received it. */
export interface ReceivedAuthnRequest {
  id: string;
  issuer: string;
  acsUrl: string;
  relayState: string | undefined;
}

/**
 * A SAML 2.0 identity provider on a local port: serves its metadata, receives AuthnRequests (HTTP-Redirect binding) and
 * answers them with a signed Response (HTTP-POST binding, as an auto-submitting form) for the person set with
 * {@link signInAs}. Responses are real: xml-crypto signs them (exclusive c14n, enveloped signature, RSA-SHA256), as
 * Okta, Entra ID or ADFS would.
 */
export class FakeSamlIdp {
  readonly key: SigningKey = newSigningKey();
  readonly requests: ReceivedAuthnRequest[] = [];
  entityId = '';
  private server: LoopbackServer | undefined;
  private person: { email: string; name: string } | undefined;
  url = '';

  constructor(private readonly now: () => number = Date.now) {}

  static async start(now?: () => number): Promise<FakeSamlIdp> {
    const idp = new FakeSamlIdp(now);
    idp.server = await listenOnLoopback((req, res) => {
      const url = new URL(req.url ?? '/', idp.url);
      if (url.pathname === '/metadata') {
        res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(idp.metadataXml());
        return;
      }
      if (url.pathname === '/sso') {
        const request = idp.receive(url);
        if (!request || !idp.person) {
          res.writeHead(400).end('no AuthnRequest, or nobody to sign in');
          return;
        }
        const samlResponse = idp.respond({
          ...idp.person,
          acsUrl: request.acsUrl,
          audience: request.issuer,
          inResponseTo: request.id,
        });
        res.writeHead(200, { 'content-type': 'text/html' }).end(autoPostForm(request.acsUrl, samlResponse, request.relayState));
        return;
      }
      res.writeHead(404).end();
    });
    idp.url = idp.server.origin;
    idp.entityId = `${idp.url}/metadata`;
    return idp;
  }

  get ssoUrl(): string {
    return `${this.url}/sso`;
  }

  /** The person the next AuthnRequest is answered for, as if they had just signed in at the IdP. */
  signInAs(person: { email: string; name: string }): this {
    this.person = person;
    return this;
  }

  metadataXml(): string {
    return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(this.entityId)}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(this.key.certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>${EMAIL_FORMAT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(this.ssoUrl)}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(this.ssoUrl)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
  }

  /** A signed SAML Response for `options.email`, base64-encoded as the HTTP-POST binding sends it. */
  respond(options: AssertionOptions): string {
    const issuedAt = options.issuedAt ?? new Date(this.now());
    const validFor = options.validForMs ?? 5 * 60_000;
    const instant = (offset: number) => new Date(issuedAt.getTime() + offset).toISOString();
    const issuer = escapeXml(options.issuer ?? this.entityId);
    const inResponseTo = options.inResponseTo ? ` InResponseTo="${escapeXml(options.inResponseTo)}"` : '';
    const assertionId = options.assertionId ?? `_a${randomUUID()}`;
    const nameId = options.emailAsAttribute
      ? `<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${randomUUID()}</saml:NameID>`
      : `<saml:NameID Format="${EMAIL_FORMAT}">${escapeXml(options.email)}</saml:NameID>`;
    const attributes = [
      ...(options.emailAsAttribute ? [['email', options.email]] : []),
      ...(options.name ? [['displayName', options.name]] : []),
    ]
      .map(
        ([name, value]) =>
          `<saml:Attribute Name="${name}"><saml:AttributeValue>${escapeXml(value!)}</saml:AttributeValue></saml:Attribute>`,
      )
      .join('');
    const assertion =
      `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${escapeXml(assertionId)}" Version="2.0" IssueInstant="${instant(0)}">` +
      `<saml:Issuer>${issuer}</saml:Issuer>` +
      `<saml:Subject>${nameId}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
      `<saml:SubjectConfirmationData Recipient="${escapeXml(options.recipient ?? options.acsUrl)}" NotOnOrAfter="${instant(validFor)}"${inResponseTo}/>` +
      `</saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${instant(-validFor)}" NotOnOrAfter="${instant(validFor)}">` +
      `<saml:AudienceRestriction><saml:Audience>${escapeXml(options.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${instant(0)}" SessionIndex="${assertionId}"><saml:AuthnContext>` +
      `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
      `</saml:AuthnContext></saml:AuthnStatement>` +
      (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
      `</saml:Assertion>`;
    const response =
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r${randomUUID()}" Version="2.0" IssueInstant="${instant(0)}" Destination="${escapeXml(options.destination ?? options.acsUrl)}"${inResponseTo}>` +
      `<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${issuer}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      assertion +
      `</samlp:Response>`;
    if (options.failure) {
      const status =
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder">` +
        `<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${options.failure}"/></samlp:StatusCode></samlp:Status>`;
      const failed = response.replace(/<samlp:Status>.*<\/samlp:Response>$/, `${status}</samlp:Response>`);
      return Buffer.from(failed, 'utf8').toString('base64');
    }
    const element = options.sign === 'response' ? 'Response' : 'Assertion';
    const signed = sign(response, element, options.signingKey ?? this.key);
    return Buffer.from(options.tamper ? options.tamper(signed) : signed, 'utf8').toString('base64');
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private receive(url: URL): ReceivedAuthnRequest | undefined {
    const encoded = url.searchParams.get('SAMLRequest');
    if (!encoded) return undefined;
    const xml = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
    const request = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
    const issuer = request?.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Issuer')[0]?.textContent;
    if (!request || !issuer) return undefined;
    const received = {
      id: request.getAttribute('ID') ?? '',
      issuer,
      acsUrl: request.getAttribute('AssertionConsumerServiceURL') ?? '',
      relayState: url.searchParams.get('RelayState') ?? undefined,
    };
    this.requests.push(received);
    return received;
  }
}

/** Signs `element` (the Response or its Assertion) with an enveloped signature placed right after its Issuer. */
function sign(xml: string, element: 'Response' | 'Assertion', key: SigningKey): string {
  const signer = new SignedXml({
    privateKey: key.privateKey,
    publicCert: key.certificate,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: EXCLUSIVE_C14N,
  });
  const target = `//*[local-name(.)='${element}']`;
  signer.addReference({ xpath: target, transforms: [ENVELOPED_SIGNATURE, EXCLUSIVE_C14N], digestAlgorithm: SHA256 });
  signer.computeSignature(xml, { location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } });
  return signer.getSignedXml();
}

/** What a browser gets from the IdP after signing in: a form that posts the response to the SP's ACS URL. */
function autoPostForm(acsUrl: string, samlResponse: string, relayState: string | undefined): string {
  const relay = relayState === undefined ? '' : `<input type="hidden" name="RelayState" value="${escapeXml(relayState)}"/>`;
  return `<!DOCTYPE html><html><body onload="document.forms[0].submit()"><form method="post" action="${escapeXml(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${samlResponse}"/>${relay}<noscript><button>Continue</button></noscript></form></body></html>`;
}

/** The fields of an auto-post form, as the browser would post them. */
export function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)) {
    fields[match[1]!] = match[2]!
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  }
  return fields;
}
