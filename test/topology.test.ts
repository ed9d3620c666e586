import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEPLOYMENT_TIERS,
  describeService,
  gatewayNameOf,
  gatewayRank,
  graphNames,
  linkVariable,
  localPort,
  serviceDefaults,
  servicesOf,
  tierRank,
  topology,
} from '@nexusflow/topology';
import { repositoryRoot } from '../scripts/topology.ts';

const everyService = graphNames.flatMap((graph) => servicesOf(graph));

describe('the topology', () => {
  it('gives every service and the gateway of a graph a catalogue port of its own within the graph', () => {
    for (const graph of graphNames) {
      const ports = [...servicesOf(graph).map(({ port }) => port), topology[graph].gatewayPort];
      expect(new Set(ports).size, graph).toBe(ports.length);
    }
  });

  it('gives every service and gateway of every graph a port of its own on one machine, Nexus COS 1000 above its catalogue', () => {
    const ports = graphNames.flatMap((graph) => [
      ...servicesOf(graph).map(({ localPort: port }) => port),
      localPort(graph, topology[graph].gatewayPort),
    ]);
    expect(new Set(ports).size).toBe(ports.length);
    // The catalogues share ports: NexusFlow's notifications and Nexus COS's token-mgr are both 3005 in their containers.
    expect([describeService('nexusflow', 'notifications').port, describeService('nexus-cos', 'token-mgr').port]).toEqual([3005, 3005]);
    expect(describeService('nexus-cos', 'token-mgr').localPort).toBe(4005);
    expect(localPort('nexus-cos', topology['nexus-cos'].gatewayPort)).toBe(4000);
  });

  it('orders Nexus COS as its runbook deploys it: token-mgr with the core, backend-api with the platform', () => {
    expect(describeService('nexus-cos', 'token-mgr').tier).toBe('core');
    expect(gatewayRank('nexus-cos')).toBe(tierRank('platform'));
    expect(gatewayNameOf('nexus-cos')).toBe('backend-api');
    // NexusFlow names no tiers: its gateway starts after all its services, as before.
    expect(servicesOf('nexusflow').every(({ tier }) => tier === 'business')).toBe(true);
    expect(gatewayRank('nexusflow')).toBe(DEPLOYMENT_TIERS.length);
  });

  it('gives every service a database of its own, named after its graph', () => {
    const databases = everyService.map(({ database }) => database);
    expect(new Set(databases).size).toBe(databases.length);
    expect(describeService('nexusflow', 'auth').database).toBe('nexusflow_auth');
  });

  it('has a folder with a schema for every service, and no service folder outside it', () => {
    for (const graph of graphNames) {
      const folders = readdirSync(join(repositoryRoot, 'subgraphs', graph)).sort();
      expect(folders, graph).toEqual(
        servicesOf(graph)
          .map(({ name }) => name)
          .sort(),
      );
      for (const name of folders) expect(existsSync(join(repositoryRoot, 'subgraphs', graph, name, 'schema.graphql')), name).toBe(true);
    }
  });

  it("names as calls exactly the services whose operations a service holds under src/operations/, each of the caller's graph", () => {
    for (const { graph, name, links } of everyService) {
      const operations = join(repositoryRoot, 'subgraphs', graph, name, 'src/operations');
      const targets = existsSync(operations) ? readdirSync(operations).sort() : [];
      expect(Object.values(links).sort(), `${graph}/${name}`).toEqual(targets);
      for (const target of targets) expect(() => describeService(graph, target)).not.toThrow();
    }
  });

  it("gives a service the URL of each service it calls on this machine, under that service's variable", () => {
    expect(serviceDefaults('nexusflow', 'scheduler')).toEqual({
      name: 'scheduler',
      port: topology.nexusflow.services.scheduler.port,
      namespace: 'nexusflow',
      links: { WORKFLOWS_URL: `http://127.0.0.1:${topology.nexusflow.services.workflows.port}/graphql` },
    });
    expect(linkVariable('content-delivery')).toBe('CONTENT_DELIVERY_URL');
  });
});
