import { describeMigrations } from '@nexusflow/kit/testing';
import { ApiKey } from '../src/entities/api-key.entity.ts';
import { RefreshToken } from '../src/entities/refresh-token.entity.ts';
import { Session } from '../src/entities/session.entity.ts';
import { Tenant } from '../src/entities/tenant.entity.ts';
import { ThrottleCounter } from '../src/entities/throttle-counter.entity.ts';
import { User } from '../src/entities/user.entity.ts';
import { migrations } from '../src/migrations/index.ts';

describeMigrations('auth', [Tenant, User, RefreshToken, ThrottleCounter, ApiKey, Session], migrations);
