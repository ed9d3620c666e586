import type { SubgraphContext } from '@nexusflow/kit';
import type { TenantKeyService } from './domain/tenant-key-service.ts';
import type { KeyServiceLoaders } from './loaders.ts';

export interface KeyServiceServices {
  tenantKeys: TenantKeyService;
}

export type KeyServiceContext = SubgraphContext<KeyServiceLoaders, KeyServiceServices>;
