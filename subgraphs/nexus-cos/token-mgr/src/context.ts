import type { Database, SubgraphContext } from '@nexusflow/kit';
import type { AccessTokens } from './domain/access-tokens.ts';
import type { KeyRing } from './domain/key-ring.ts';
import type { TokenMgrLoaders } from './loaders.ts';

export interface TokenMgrServices {
  database: Database;
  keys: KeyRing;
  accessTokens: AccessTokens;
  now: () => Date;
}

export type TokenMgrContext = SubgraphContext<TokenMgrLoaders, TokenMgrServices>;
