import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service, type IContainer } from 'kubernetes-models/v1';
import { gatewayNameOf, servicesOf } from '@nexusflow/topology';
import { loadGatewayConfig } from '../gateway/src/config.ts';
import { kubernetesDirectory, kubernetesFiles, kubernetesGraphs } from '../scripts/kubernetes.ts';
import { repositoryRoot } from '../scripts/topology.ts';

/** Each kind the manifests use, by `apiVersion/kind`, with its model: `validate()` checks it against the official OpenAPI schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

async function manifestsOf(graph: string): Promise<Manifest[]> {
  const directory = kubernetesDirectory(graph as never);
  const files = (await readdir(directory)).filter((file) => file !== 'kustomization.yaml');
  const texts = await Promise.all(files.map((file) => readFile(`${directory}${file}`, 'utf8')));
  return texts.flatMap((text) => parseAllDocuments(text).map((document) => document.toJS() as Manifest));
}

const of = (manifests: Manifest[], kind: string, name: string) => {
  const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

const containerOf = (manifests: Manifest[], app: string): IContainer =>
  (of(manifests, 'Deployment', app) as unknown as IDeployment).spec!.template.spec!.containers[0]!;

describe.each(kubernetesGraphs())('the Kubernetes manifests of $graph', ({ graph, namespace }) => {
  const apps = [gatewayNameOf(graph), ...servicesOf(graph).map(({ name }) => name)];

  it('are exactly what `npm run deployment` generates from the topology, with no file left over', async () => {
    const fresh = [...kubernetesFiles()].filter(([path]) => path.startsWith(`deploy/kubernetes/${graph}/`));
    const committed = (await readdir(kubernetesDirectory(graph))).map((file) => `deploy/kubernetes/${graph}/${file}`).sort();
    expect(committed).toEqual(fresh.map(([path]) => path).sort());
    for (const [path, content] of fresh) {
      expect(await readFile(`${repositoryRoot}${path}`, 'utf8'), `${path} is stale: run \`npm run deployment\``).toBe(content);
    }
  });

  it('validate against the Kubernetes API schemas, every object in the namespace', async () => {
    const manifests = await manifestsOf(graph);
    expect(manifests.length).toBeGreaterThan(0);
    for (const manifest of manifests) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(Model, `${manifest.apiVersion}/${manifest.kind} has a model`).toBeDefined();
      expect(() => new Model!(manifest as never).validate(), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
      if (manifest.kind === 'Namespace') expect(manifest.metadata.name).toBe(namespace);
      else expect(manifest.metadata.namespace, `${manifest.kind} ${manifest.metadata.name}`).toBe(namespace);
    }
    expect(() => new Deployment({ metadata: { name: 'broken' }, spec: { replicas: 'two' } } as never).validate()).toThrow(/replicas/);
  });

  it.each(apps)('run %s as a Deployment labelled app=<name>, probed on its health endpoints, with requests and limits', async (app) => {
    const manifests = await manifestsOf(graph);
    const deployment = of(manifests, 'Deployment', app);
    expect(deployment.metadata.labels?.app).toBe(app);
    expect(deployment.spec.selector.matchLabels).toEqual({ app });
    expect(deployment.spec.template.metadata.labels.app).toBe(app);
    const [container] = deployment.spec.template.spec.containers;
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it.each(apps)('give %s its settings from its ConfigMap and its secrets only by reference', async (app) => {
    const manifests = await manifestsOf(graph);
    const container = containerOf(manifests, app);
    expect(container.envFrom).toEqual([{ configMapRef: { name: `${app}-config` } }]);
    of(manifests, 'ConfigMap', `${app}-config`);
    for (const variable of container.env!) {
      expect(variable, variable.name).not.toHaveProperty('value');
      expect(variable.valueFrom?.secretKeyRef, variable.name).toEqual({ name: expect.any(String), key: variable.name });
    }
    expect(container.env!.map(({ name }) => name)).toContain('INTERNAL_SECRET');
    expect(manifests.some((manifest) => manifest.kind === 'Secret')).toBe(false);
  });

  it.each(apps)(
    'expose %s as a Service, autoscale it at 70% CPU from 2 to 10 replicas and keep one up through disruptions',
    async (app) => {
      const manifests = await manifestsOf(graph);
      const container = containerOf(manifests, app);
      const service = of(manifests, 'Service', app);
      expect(service.spec.selector).toEqual({ app });
      expect(service.spec.ports[0]).toEqual({ name: 'http', port: container.ports![0]!.containerPort, targetPort: 'http' });
      expect(of(manifests, 'HorizontalPodAutoscaler', app).spec).toEqual({
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: app },
        minReplicas: 2,
        maxReplicas: 10,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      });
      expect(of(manifests, 'PodDisruptionBudget', app).spec).toEqual({ minAvailable: 1, selector: { matchLabels: { app } } });
    },
  );

  it("is a configuration the gateway accepts in production, verifying tokens from its issuer's JWKS in the namespace", async () => {
    const manifests = await manifestsOf(graph);
    const gateway = gatewayNameOf(graph);
    const container = containerOf(manifests, gateway);
    const secrets = Object.fromEntries(container.env!.map(({ name }) => [name, 's'.repeat(32)]));
    secrets.REDIS_URL = 'redis://redis:6379';
    const config = loadGatewayConfig(
      { ...of(manifests, 'ConfigMap', `${gateway}-config`).data, ...secrets },
      container.args!.slice(container.args!.indexOf('--graph')),
    );
    expect(config.nodeEnv).toBe('production');
    expect(config.subgraphUrls).toEqual(
      Object.fromEntries(servicesOf(graph).map(({ name, port }) => [name.replaceAll('-', '_'), `http://${name}:${port}/graphql`])),
    );
    if (graph === 'nexus-cos') expect(config.jwtSecret).toMatchObject({ jwksUrl: 'http://token-mgr:3005/.well-known/jwks.json' });
  });
});
