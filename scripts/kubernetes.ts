import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IConfigMap, IContainer, IEnvVar, INamespace, IService } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import {
  accessTokenIssuerOf,
  gatewayNameOf,
  graphNames,
  JWKS_PATH,
  servicesOf,
  subgraphRouteVariable,
  topology,
  type GraphName,
  type GraphTopology,
  type ServiceDescription,
  type ServiceResources,
} from '@nexusflow/topology';
import { GATEWAY, gatewayPort, PRODUCTION_ENVIRONMENT, publishedSupergraph, readTopology, repositoryRoot } from './topology.ts';

/**
 * Kubernetes manifests of every graph that names a namespace in packages/topology (Nexus COS: `nexus-cos`), derived
 * from the same description as docker-compose.yml: `npm run deployment` writes them under deploy/kubernetes/<graph>/,
 * `npm run deployment -- --check` fails naming stale ones, and test/kubernetes.test.ts validates them against the
 * Kubernetes API schemas. Per service: a ConfigMap of its settings, a Deployment (label `app=<service>`, probes on
 * /health/live and /health/ready, requests and limits, secrets by reference only), a Service on its catalogue port, a
 * HorizontalPodAutoscaler (70 % CPU, 2 to 10 replicas, as the runbook's `kubectl autoscale`) and a PodDisruptionBudget.
 */

/** Built from the repository's Dockerfile; kustomization.yaml's `images` points it at a registry and tag. */
export const IMAGE = 'nexusflow-supergraph';
/** The Dockerfile's WORKDIR. */
const CONTAINER_ROOT = '/app';
/** The Dockerfile's `node` user: the image runs as it, never as root. */
const CONTAINER_USER_ID = 1000;
/** Where Prometheus scrapes the gateway, off its public port. */
const GATEWAY_ADMIN_PORT = 9000;
const AUTOSCALING = { minReplicas: 2, maxReplicas: 10, cpuUtilisation: 70 } as const;
/** What a gateway pod asks for: a heap of 512 MB (scripts/topology.ts) and the query planner beside it. */
const GATEWAY_RESOURCES: ServiceResources = { requests: { cpu: '250m', memory: '384Mi' }, limits: { cpu: '2', memory: '768Mi' } };
const DEFAULT_RESOURCES: ServiceResources = { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '384Mi' } };

/** The Secret every service of a graph reads its shared settings from: `<namespace>-shared`. */
export const sharedSecretName = (namespace: string) => `${namespace}-shared`;
/** The keys of the shared Secret, which the operator creates before applying (kustomization.yaml's header lists every Secret). */
export const SHARED_SECRET_KEYS = ['INTERNAL_SECRET', 'REDIS_URL'] as const;
/** The Secret of one service: its DATABASE_URL and the secrets packages/topology lists for it, under their own names. */
export const serviceSecretName = (service: string) => `${service}-secrets`;

export const kubernetesDirectory = (graph: GraphName) => `${repositoryRoot}deploy/kubernetes/${graph}/`;

/** The graphs that have Kubernetes manifests, with their namespace. */
export function kubernetesGraphs(): { graph: GraphName; namespace: string }[] {
  return graphNames.flatMap((graph) => {
    const namespace = (topology[graph] as GraphTopology).kubernetesNamespace;
    return namespace ? [{ graph, namespace }] : [];
  });
}

const labelsOf = (graph: GraphName, app: string, tier: string) => ({
  app,
  'app.kubernetes.io/name': app,
  'app.kubernetes.io/part-of': graph,
  'app.kubernetes.io/component': tier,
});

const fromSecret = (name: string, secret: string, key = name): IEnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

function container(app: string, port: number, args: string[], resources: ServiceResources, env: IEnvVar[]): IContainer {
  const probe = (path: string, failureThreshold: number, periodSeconds: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  return {
    name: app,
    image: IMAGE,
    args,
    ports: [{ name: 'http', containerPort: port }],
    envFrom: [{ configMapRef: { name: `${app}-config` } }],
    env,
    resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
    // Migrations run before a service listens: up to 5 minutes to start, then restarted after 30 s without answering.
    startupProbe: probe('/health/live', 30, 10),
    livenessProbe: probe('/health/live', 3, 10),
    readinessProbe: probe('/health/ready', 3, 5),
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
}

function workload(
  graph: GraphName,
  namespace: string,
  app: string,
  tier: string,
  settings: Record<string, string>,
  spec: IContainer,
  extraPorts: IService['spec'] = {},
): string {
  const labels = labelsOf(graph, app, tier);
  const metadata = { name: app, namespace, labels };
  const configMap: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${app}-config`, namespace, labels },
    data: settings,
  };
  const deployment: IDeployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: AUTOSCALING.minReplicas,
      selector: { matchLabels: { app } },
      // A new pod serves before an old one stops: `kubectl rollout restart` never leaves the service short.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: {
          // Longer than SHUTDOWN_TIMEOUT_MS (10 s), so that requests in flight drain before the pod is killed.
          terminationGracePeriodSeconds: 20,
          securityContext: { runAsNonRoot: true, runAsUser: CONTAINER_USER_ID, runAsGroup: CONTAINER_USER_ID },
          containers: [spec],
        },
      },
    },
  };
  const service: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      selector: { app },
      ports: [{ name: 'http', port: spec.ports![0]!.containerPort, targetPort: 'http' }, ...(extraPorts.ports ?? [])],
    },
  };
  const autoscaler: IHorizontalPodAutoscaler = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: app },
      minReplicas: AUTOSCALING.minReplicas,
      maxReplicas: AUTOSCALING.maxReplicas,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: AUTOSCALING.cpuUtilisation } } },
      ],
    },
  };
  const disruptionBudget: IPodDisruptionBudget = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata,
    spec: { minAvailable: 1, selector: { matchLabels: { app } } },
  };
  return documents(
    `${app}: generated by \`npm run deployment\` from packages/topology; not edited by hand.`,
    configMap,
    deployment,
    service,
    autoscaler,
    disruptionBudget,
  );
}

function documents(comment: string, ...manifests: object[]): string {
  const header = comment.replace(/^/gm, '# ');
  return `${header}\n${manifests.map((manifest) => stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')}`;
}

/** Settings every process of the graph reads, as docker-compose.yml gives them. */
const commonSettings = () => ({ ...PRODUCTION_ENVIRONMENT, HOST: '0.0.0.0' });

function serviceManifests(graph: GraphName, namespace: string, service: ServiceDescription, calls: Record<string, string>): string {
  const { entry, nodeOptions } = readTopology(graph).find((process) => process.name === service.name)!;
  const settings: Record<string, string> = {
    ...commonSettings(),
    PORT: String(service.port),
    ...calls,
    ...Object.fromEntries(service.optionalVariables.map((variable) => [variable, ''])),
  };
  const secrets = serviceSecretName(service.name);
  const env = [
    ...SHARED_SECRET_KEYS.map((key) => fromSecret(key, sharedSecretName(namespace))),
    fromSecret('DATABASE_URL', secrets),
    ...(service.usesRabbitMq ? [fromSecret('AMQP_URL', sharedSecretName(namespace))] : []),
    ...service.secrets.map((secret) => fromSecret(secret, secrets)),
  ];
  const resources = service.resources ?? DEFAULT_RESOURCES;
  return workload(
    graph,
    namespace,
    service.name,
    service.tier,
    settings,
    container(service.name, service.port, [...nodeOptions, entry], resources, env),
  );
}

function gatewayManifests(graph: GraphName, namespace: string): string {
  const name = gatewayNameOf(graph);
  const port = gatewayPort(graph);
  const issuer = accessTokenIssuerOf(graph);
  const published = publishedSupergraph(graph).slice(repositoryRoot.length);
  const settings: Record<string, string> = {
    ...commonSettings(),
    PORT: String(port),
    ADMIN_HOST: '0.0.0.0',
    ADMIN_PORT: String(GATEWAY_ADMIN_PORT),
    // What `npm run schema:publish` last published, in the image; a new publication ships with a new image.
    SUPERGRAPH_PATH: `${CONTAINER_ROOT}/${published}`,
    ...Object.fromEntries(
      servicesOf(graph).map((service) => [subgraphRouteVariable(service.name), `http://${service.name}:${service.port}/graphql`]),
    ),
    ...(issuer ? { ACCESS_TOKEN_JWKS_URL: `http://${issuer.service.name}:${issuer.service.port}${JWKS_PATH}` } : {}),
  };
  const env = [
    ...SHARED_SECRET_KEYS.map((key) => fromSecret(key, sharedSecretName(namespace))),
    // Without an issuer of its own, the gateway checks tokens signed with the shared JWT_SECRET.
    ...(issuer ? [] : [fromSecret('JWT_SECRET', sharedSecretName(namespace))]),
  ];
  const spec = container(name, port, [...GATEWAY.nodeOptions, GATEWAY.entry, '--graph', graph], GATEWAY_RESOURCES, env);
  spec.ports!.push({ name: 'admin', containerPort: GATEWAY_ADMIN_PORT });
  return workload(graph, namespace, name, (topology[graph] as GraphTopology).gatewayTier ?? 'gateway', settings, spec, {
    ports: [{ name: 'admin', port: GATEWAY_ADMIN_PORT, targetPort: 'admin' }],
  });
}

function namespaceManifest(graph: GraphName, namespace: string): string {
  const manifest: INamespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'app.kubernetes.io/part-of': graph } },
  };
  return documents(`The ${graph} namespace: generated by \`npm run deployment\` from packages/topology; not edited by hand.`, manifest);
}

function kustomization(graph: GraphName, namespace: string, files: string[]): string {
  const usesBus = servicesOf(graph).some(({ usesRabbitMq }) => usesRabbitMq);
  const secrets = [
    `${sharedSecretName(namespace)} (${[...SHARED_SECRET_KEYS, ...(usesBus ? ['AMQP_URL'] : [])].join(', ')})`,
    ...servicesOf(graph).map((service) => `${serviceSecretName(service.name)} (${['DATABASE_URL', ...service.secrets].join(', ')})`),
  ];
  return documents(
    [
      `Every manifest of the ${graph} graph: kubectl apply -k deploy/kubernetes/${graph}. Generated by \`npm run deployment\`.`,
      'The Secrets are referenced, never generated: create them first (kubectl create secret generic <name> -n',
      `${namespace} --from-literal=KEY=value …): ${secrets.join('; ')}.`,
    ].join('\n'),
    {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace,
      resources: files,
      images: [{ name: IMAGE, newTag: 'latest' }],
    },
  );
}

/** Every manifest file, by its path from the repository root. */
export function kubernetesFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const { graph, namespace } of kubernetesGraphs()) {
    const directory = `deploy/kubernetes/${graph}/`;
    const services = servicesOf(graph);
    const byName = new Map(services.map((service) => [service.name, service]));
    const perFile = new Map<string, string>([['namespace.yaml', namespaceManifest(graph, namespace)]]);
    perFile.set(`${gatewayNameOf(graph)}.yaml`, gatewayManifests(graph, namespace));
    for (const service of services) {
      const calls = Object.fromEntries(
        Object.entries(service.links).map(([variable, called]) => [variable, `http://${called}:${byName.get(called)!.port}/graphql`]),
      );
      perFile.set(`${service.name}.yaml`, serviceManifests(graph, namespace, service, calls));
    }
    perFile.set('kustomization.yaml', kustomization(graph, namespace, [...perFile.keys()]));
    for (const [file, content] of perFile) files.set(`${directory}${file}`, content);
  }
  return files;
}
