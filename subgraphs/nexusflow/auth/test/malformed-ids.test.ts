import { describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import { subgraph as auth } from '../src/subgraph.ts';

describeMalformedIds('auth', {
  start: (env) => auth.start(env),
  cases: [{ operation: 'user(id)', query: 'query ($id: ID!) { user(id: $id) { id } }', variables: { id: MALFORMED_ID }, field: 'id' }],
  entities: { User: 'id email', Tenant: 'id users { id }' },
});
