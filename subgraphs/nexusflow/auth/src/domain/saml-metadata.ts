import { createHash, X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';

export const SAML_METADATA_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
export const SAML_ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const SAML_PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const HTTP_REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** An IdP as a tenant configures it, from its metadata or field by field. */
export interface IdentityProvider {
  entityId: string;
  ssoUrl: string;
  signingCertificate: string;
}

/** A signing certificate, checked and described. */
export interface SigningCertificate {
  pem: string;
  fingerprint: string;
  expiresAt: Date;
}

/**
 * Parses XML without ever failing loudly on bad input: xmldom reports errors to handlers, which collect them, and
 * neither fetches nor expands external entities.
 */
export function parseXml(xml: string): Document | null {
  const errors: string[] = [];
  const document = new DOMParser({
    locator: {},
    errorHandler: {
      warning: () => undefined,
      error: (message: string) => errors.push(message),
      fatalError: (message: string) => errors.push(message),
    },
  }).parseFromString(xml, 'text/xml');
  return errors.length === 0 && document?.documentElement ? document : null;
}

/** Descendants by namespace and local name, as an array: xmldom's node lists are not iterable. */
export function descendants(root: Document | Element, namespace: string, localName: string): Element[] {
  const list = root.getElementsByTagNameNS(namespace, localName);
  return Array.from({ length: list.length }, (_, index) => list.item(index)!);
}

export function childElements(parent: Element, namespace: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    const element = node as Element;
    if (node.nodeType === 1 && element.namespaceURI === namespace && element.localName === localName) found.push(element);
  }
  return found;
}

/**
 * Reads an IdP's SAML 2.0 metadata: its entity id, its HTTP-Redirect sign-on URL and its signing certificate. Returns
 * what is missing, for people, when it is not usable.
 */
export function readIdpMetadata(xml: string): { ok: true; idp: IdentityProvider } | { ok: false; problem: string } {
  const document = parseXml(xml);
  if (!document) return { ok: false, problem: 'is not well-formed XML' };
  const entities = descendants(document, SAML_METADATA_NS, 'EntityDescriptor');
  const entity = entities.find((candidate) => childElements(candidate, SAML_METADATA_NS, 'IDPSSODescriptor').length > 0);
  if (!entity) return { ok: false, problem: 'describes no identity provider (IDPSSODescriptor)' };
  const entityId = entity.getAttribute('entityID') ?? '';
  if (!entityId) return { ok: false, problem: 'names no entityID' };
  const descriptor = childElements(entity, SAML_METADATA_NS, 'IDPSSODescriptor')[0]!;
  const ssoUrl = childElements(descriptor, SAML_METADATA_NS, 'SingleSignOnService')
    .find((service) => service.getAttribute('Binding') === HTTP_REDIRECT_BINDING)
    ?.getAttribute('Location');
  if (!ssoUrl) return { ok: false, problem: 'has no SingleSignOnService with the HTTP-Redirect binding' };
  const certificate = childElements(descriptor, SAML_METADATA_NS, 'KeyDescriptor')
    .filter((key) => (key.getAttribute('use') || 'signing') === 'signing')
    .flatMap((key) => descendants(key, XMLDSIG_NS, 'X509Certificate'))
    .map((element) => element.textContent ?? '')
    .find((text) => text.trim().length > 0);
  if (!certificate) return { ok: false, problem: 'has no signing certificate (KeyDescriptor use="signing")' };
  return { ok: true, idp: { entityId, ssoUrl, signingCertificate: certificate } };
}

/** A certificate given as PEM or as the bare base64 of metadata, or null when it is not an X.509 certificate. */
export function readSigningCertificate(text: string): SigningCertificate | null {
  const body = text
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
    .replace(/\s+/g, '')
    .trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return null;
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  try {
    const certificate = new X509Certificate(pem);
    const fingerprint = createHash('sha256').update(certificate.raw).digest('hex').toUpperCase().match(/.{2}/g)!.join(':');
    return { pem, fingerprint, expiresAt: new Date(certificate.validTo) };
  } catch {
    return null;
  }
}
