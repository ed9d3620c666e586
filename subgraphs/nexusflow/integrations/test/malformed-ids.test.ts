import { describeMalformedIds, MALFORMED_ID } from '@nexusflow/kit/testing';
import { subgraph } from '../src/subgraph.ts';

describeMalformedIds('integrations', {
  start: (env) => subgraph.start(env),
  cases: [
    {
      operation: 'integration(id)',
      query: 'query ($id: ID!) { integration(id: $id) { id } }',
      variables: { id: MALFORMED_ID },
      field: 'id',
    },
    {
      operation: 'disconnectIntegration(id)',
      query: 'mutation ($id: ID!) { disconnectIntegration(id: $id) { __typename } }',
      variables: { id: MALFORMED_ID },
      field: 'id',
    },
    {
      operation: 'rotateIntegrationWebhookSecret(id)',
      query: 'mutation ($id: ID!) { rotateIntegrationWebhookSecret(id: $id) { __typename } }',
      variables: { id: MALFORMED_ID },
      field: 'id',
    },
  ],
  entities: { Integration: 'id provider' },
});
