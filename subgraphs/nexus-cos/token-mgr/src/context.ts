import type { Database, SubgraphContext } from '@nexusflow/kit';
import type { AccessTokens } from './domain/access-tokens.ts';
import type { KeyRing } from './domain/key-ring.ts';
import type { SigningKeyVault } from './domain/signing-key-vault.ts';
import type { TokenMgrLoaders } from './loaders.ts';

export interface TokenMgrServices {
  database: Database;
  keys: KeyRing;
  /** Where the private signing keys are wrapped: key-service. */
  vault: SigningKeyVault;
  accessTokens: AccessTokens;
  now: () => Date;
}

export type TokenMgrContext = SubgraphContext<TokenMgrLoaders, TokenMgrServices>;
