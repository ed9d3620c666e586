import type { SubgraphContext } from '@nexusflow/kit';
import type { UserService } from './domain/user-service.ts';
import type { UserAuthLoaders } from './loaders.ts';

export interface UserAuthServices {
  users: UserService;
}

export type UserAuthContext = SubgraphContext<UserAuthLoaders, UserAuthServices>;
