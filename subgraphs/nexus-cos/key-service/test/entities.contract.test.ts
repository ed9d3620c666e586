import { describeEntityContract } from '@nexusflow/kit/testing';
import { TenantKeyVersion, KeyVersionState } from '../src/entities/tenant-key-version.entity.ts';
import { TenantKey } from '../src/entities/tenant-key.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('key-service', {
  start: (env) => subgraph.start(env),
  env: { KEY_MAINTENANCE_INTERVAL_MS: '0' },
  entities: {
    TenantKeyVersion: {
      selection: 'tenantKeyId version state wrappedSecrets',
      create: (em, tenantId, count) => {
        const tenantKey = em.create(TenantKey, { tenantId, currentVersion: count, rotatedAt: new Date() });
        return Array.from(
          { length: count },
          (_, index) =>
            em.create(TenantKeyVersion, {
              tenantId,
              tenantKeyId: tenantKey.id,
              version: index + 1,
              state: index + 1 === count ? KeyVersionState.Active : KeyVersionState.Retired,
              sealedMaterial: null,
              masterKeyId: null,
              retiredAt: null,
              destroyedAt: null,
            }).id,
        );
      },
    },
  },
});
