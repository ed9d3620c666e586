import type { Logger } from '@nexusflow/kit/core';
import { Admission } from '../admission/admission.ts';
import { findManifests, TrustedDocuments, TrustedDocumentsMode } from '../admission/trusted-documents.ts';
import { DEFAULT_CLIENTS_DIRECTORY, type GatewayConfig } from '../config.ts';

/** What every operation passes before it runs, on every transport: trusted documents and operation limits. */
export async function loadAdmission(config: Pick<GatewayConfig, 'trustedDocuments' | 'limits'>, logger: Logger): Promise<Admission> {
  const trustedDocuments = await TrustedDocuments.load(
    config.trustedDocuments.mode,
    config.trustedDocuments.manifests ?? (await findManifests(DEFAULT_CLIENTS_DIRECTORY)),
  );
  if (config.trustedDocuments.mode !== TrustedDocumentsMode.Off)
    logger.info({ mode: config.trustedDocuments.mode, documents: trustedDocuments.size }, 'serving trusted documents');
  return new Admission({ limits: config.limits, trustedDocuments });
}
