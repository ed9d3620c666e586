import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '@nexusflow/kit/testing';
import type { RunningGateway } from '../src/gateway.ts';
import { startEdgeFixture, type EdgeFixture } from './support/edge-fixture.ts';

/** Nothing listens on the discard port: a subgraph there is a subgraph that stopped. */
const STOPPED_SUBGRAPH_URL = 'http://127.0.0.1:9/graphql';

const up = { status: 'up' };

describe('gateway readiness', () => {
  let fixture: EdgeFixture;
  let healthy: RunningGateway;
  let withoutReviews: RunningGateway;

  beforeAll(async () => {
    fixture = await startEdgeFixture();
    healthy = await fixture.gateway();
    withoutReviews = await fixture.gateway({ SUBGRAPH_REVIEWS_URL: STOPPED_SUBGRAPH_URL });
  });

  afterAll(async () => {
    await fixture?.close();
  });

  const readiness = async (gateway: RunningGateway) => {
    const response = await fetch(`${gateway.url}/health/ready`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const subgraphUp = async (gateway: RunningGateway) => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    return Object.fromEntries(
      [...metrics.matchAll(/^gateway_subgraph_up\{[^}]*\bsubgraph="([^"]+)"[^}]*\} (\d+)$/gm)].map(([, name, value]) => [
        name,
        Number(value),
      ]),
    );
  };

  it('is ready once its supergraph is loaded, and says that each subgraph answers', async () => {
    expect(await readiness(healthy)).toEqual({
      status: 200,
      body: {
        status: 'ready',
        checks: { supergraph: up },
        subgraphs: { accounts: up, inventory: up, products: up, reviews: up, troubled: up },
      },
    });
  });

  it('stays ready with a subgraph down, naming it in the body, because it still serves everything else', async () => {
    const { status, body } = await readiness(withoutReviews);

    expect(status).toBe(200);
    expect(body).toEqual({
      status: 'ready',
      checks: { supergraph: up },
      subgraphs: { accounts: up, inventory: up, products: up, reviews: { status: 'down', error: 'unreachable' }, troubled: up },
    });
    const served = await postGraphQL(withoutReviews.graphqlUrl, '{ topProducts(first: 2) { upc name } }');
    expect(served.errors).toBeUndefined();
    expect(served.data).toEqual({
      topProducts: [
        { upc: '1', name: expect.any(String) },
        { upc: '2', name: expect.any(String) },
      ],
    });
  });

  it('exports whether each subgraph answers as gateway_subgraph_up, asked afresh at every scrape', async () => {
    expect(await subgraphUp(healthy)).toEqual({ accounts: 1, inventory: 1, products: 1, reviews: 1, troubled: 1 });
    expect(await subgraphUp(withoutReviews)).toEqual({ accounts: 1, inventory: 1, products: 1, reviews: 0, troubled: 1 });
  });

  it('answers 503 only once it stops serving: while it drains', async () => {
    const draining = await fixture.gateway();
    draining.health.startDraining();

    const { status, body } = await readiness(draining);

    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'unavailable', checks: { supergraph: up, shutdown: { status: 'down', error: 'draining' } } });
  });
});
