import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeService, graphNames, linkVariable, serviceDefaults, servicesOf, topology } from '@nexusflow/topology';
import { repositoryRoot } from '../scripts/topology.ts';

const everyService = graphNames.flatMap((graph) => servicesOf(graph));

describe('the topology', () => {
  it('gives every service and every gateway a port of its own, across all graphs', () => {
    const ports = [...everyService.map(({ port }) => port), ...graphNames.map((graph) => topology[graph].gatewayPort)];
    expect(new Set(ports).size).toBe(ports.length);
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
