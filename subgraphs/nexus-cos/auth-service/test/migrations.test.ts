import { describeMigrations } from '@nexusflow/kit/testing';
import { migrations } from '../src/migrations/index.ts';
import { entities } from '../src/subgraph.ts';

describeMigrations('auth-service', entities, migrations);
