import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, secretOrDevelopmentDefault, signAccessToken, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, testEnvironment } from '@nexusflow/kit/testing';
import { subgraphRouteVariable } from '@nexusflow/topology';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import type { AiServices } from '../../subgraphs/nexusflow/ai/src/context.ts';
import { subgraph as aiSubgraph } from '../../subgraphs/nexusflow/ai/src/subgraph.ts';
import { FakeLlmProviders } from '../../subgraphs/nexusflow/ai/test/support/fake-llm-providers.ts';
import { routesFor, TestServices } from '../support/services.ts';

const COMPLETE = 'mutation ($input: CompletionInput!) { complete(input: $input) { model } }';
const hello = { messages: [{ role: 'USER', content: 'Say hello' }] };
const REQUESTS_PER_WINDOW = 4;

/**
 * Two ai instances on one database and one Redis, each behind a gateway of its own, as two replicas behind two load
 * balancer targets: a tenant's AI request budget is one budget, whichever instance its requests reach.
 */
describe.runIf(testEnvironment.postgresUrl && testEnvironment.redisUrl && testEnvironment.amqpUrl)(
  "the tenant's AI request limit across two instances (real PostgreSQL, Redis and RabbitMQ)",
  () => {
    let services: TestServices;
    let fake: FakeLlmProviders;
    const gateways: RunningGateway[] = [];
    const instances: RunningSubgraph<AiServices>[] = [];

    beforeAll(async () => {
      fake = await FakeLlmProviders.start();
      services = await TestServices.create('postgres', 'ai_limits');
      const env = {
        ...(await services.environmentFor('ai')),
        ...fake.environment,
        AI_REQUESTS_PER_MINUTE: String(REQUESTS_PER_WINDOW),
        // A window of an hour: the budget does not refill while the test runs, however slow the machine.
        AI_RATE_LIMIT_WINDOW_SECONDS: '3600',
      };
      for (let started = 0; started < 2; started += 1) {
        const instance = await services.start(aiSubgraph, env);
        instances.push(instance);
        gateways.push(
          await services.startGateway('nexusflow', { ...routesFor('nexusflow', {}), [subgraphRouteVariable('ai')]: instance.graphqlUrl }),
        );
      }
    });

    afterAll(async () => {
      await services?.close();
      await fake?.close();
    });

    const tokenFor = async (tenantId: string) =>
      (await signAccessToken({ userId: randomUUID(), tenantId, roles: [Role.Member] }, secretOrDevelopmentDefault(undefined), 900)).token;

    it('refuses the request over the budget on the other instance with RATE_LIMITED and when to retry, sending it nowhere', async () => {
      const tenantId = randomUUID();
      const token = await tokenFor(tenantId);
      const complete = (gateway: RunningGateway) =>
        postGraphQL<{ complete: { model: string } }>(gateway.graphqlUrl, COMPLETE, { token, variables: { input: hello } });
      const before = fake.received.length;
      for (let sent = 0; sent < REQUESTS_PER_WINDOW; sent += 1) {
        const answered = await complete(gateways[sent % 2]!);
        expect(answered.errors).toBeUndefined();
      }
      // Each instance answered only half the budget, yet the next request is over it, on either.
      for (const gateway of gateways) {
        const refused = await complete(gateway);
        expect(refused.errors?.[0]).toMatchObject({
          message: expect.stringMatching(/^Too many AI requests for this tenant \(at most 4 every 3600 seconds\)/),
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
        });
        expect(refused.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
      }
      expect(fake.received.length - before).toBe(REQUESTS_PER_WINDOW);
      // Another tenant's budget is untouched.
      const other = await postGraphQL(gateways[1]!.graphqlUrl, COMPLETE, {
        token: await tokenFor(randomUUID()),
        variables: { input: hello },
      });
      expect(other.errors).toBeUndefined();
    });
  },
);
