import type { OutboxRelay, SubgraphContext } from '@nexusflow/kit';
import type { KeyAuditTrail } from './domain/audit-trail.ts';
import type { KeyVault } from './domain/key-vault.ts';
import type { KeyServiceLoaders } from './loaders.ts';

export interface KeyServiceServices {
  vault: KeyVault;
  auditTrail: KeyAuditTrail;
  /** Publishes the audit events the outbox holds to the event bus. */
  relay: OutboxRelay;
}

export type KeyServiceContext = SubgraphContext<KeyServiceLoaders, KeyServiceServices>;
