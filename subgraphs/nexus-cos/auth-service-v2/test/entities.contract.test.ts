import { describeEntityContract } from '@nexusflow/kit/testing';
import { OAuthClient } from '../src/entities/oauth-client.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('auth-service-v2', {
  start: (env) => subgraph.start(env),
  entities: {
    OAuthClient: {
      selection: 'name clientType grantTypes redirectUris createdAt secretIssuedAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) =>
            em.create(OAuthClient, {
              tenantId,
              createdBy: tenantId,
              name: `OAuthClient ${index}`,
              clientType: 'PUBLIC',
              grantTypes: ['AUTHORIZATION_CODE'],
              redirectUris: ['https://app.example/callback'],
              encryptedSecret: null,
              secretIssuedAt: null,
            }).id,
        ),
    },
  },
});
