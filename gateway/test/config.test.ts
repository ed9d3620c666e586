import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nexusflow/kit/core';
import { topology } from '@nexusflow/topology';
import { loadGatewayConfig, subgraphUrlKey, supergraphPathOf } from '../src/config.ts';

describe('the gateway configuration', () => {
  it('serves a graph of the repository named by --graph: its composed supergraph, on its own port', () => {
    const config = loadGatewayConfig({}, ['--graph', 'nexusflow']);
    expect(config.supergraphPath).toBe(supergraphPathOf('nexusflow'));
    expect(config.port).toBe(topology.nexusflow.gatewayPort);
  });

  it('lets SUPERGRAPH_PATH, PORT and --supergraph say otherwise than --graph', () => {
    expect(loadGatewayConfig({ SUPERGRAPH_PATH: '/published.graphql', PORT: '9100' }, ['--graph', 'nexusflow'])).toMatchObject({
      supergraphPath: '/published.graphql',
      port: 9100,
    });
    expect(loadGatewayConfig({}, ['--graph', 'nexusflow', '--supergraph', 'other.graphql']).supergraphPath).toBe('other.graphql');
  });

  it('refuses a graph the repository does not have, naming the ones it has', () => {
    expect(() => loadGatewayConfig({}, ['--graph', 'nexus-nothing'])).toThrow(ConfigError);
    expect(() => loadGatewayConfig({}, ['--graph', 'nexus-nothing'])).toThrow(/graph: must be one of nexusflow/);
  });

  it('routes a subgraph whose name has hyphens by SUBGRAPH_<NAME>_URL written with underscores', () => {
    const config = loadGatewayConfig({ SUBGRAPH_CONTENT_DELIVERY_URL: 'http://127.0.0.1:9/graphql' });
    expect(config.subgraphUrls[subgraphUrlKey('content-delivery')]).toBe('http://127.0.0.1:9/graphql');
  });

  it("keeps its keys in Redis under its graph's name unless REDIS_NAMESPACE names another", () => {
    expect(loadGatewayConfig({}, ['--graph', 'nexusflow']).redisNamespace).toBe('nexusflow');
    expect(loadGatewayConfig({ REDIS_NAMESPACE: 'staging' }, ['--graph', 'nexusflow']).redisNamespace).toBe('staging');
  });

  it('shares subscriptions across users only for the subgraphs SUBSCRIPTIONS_SHARED_ACROSS_USERS names', () => {
    expect(loadGatewayConfig({}, ['--graph', 'nexusflow']).subscriptionsSharedAcrossUsers).toEqual(new Set());
    expect(
      loadGatewayConfig({ SUBSCRIPTIONS_SHARED_ACROSS_USERS: ' workflows, auth ,' }, ['--graph', 'nexusflow'])
        .subscriptionsSharedAcrossUsers,
    ).toEqual(new Set(['workflows', 'auth']));
  });
});
