/**
 * The deployment order after the infrastructure (PostgreSQL, Redis, RabbitMQ), as Nexus COS's runbook gives it: the
 * services everything authenticates with, then the platform (the gateway among it), then the business services. The
 * launcher starts a tier once every process of the one before answers ready; docker-compose.yml has each service
 * depend on the services of earlier tiers being healthy.
 */
export const DEPLOYMENT_TIERS = ['core', 'platform', 'business'] as const;
export type DeploymentTier = (typeof DEPLOYMENT_TIERS)[number];

/** What the Kubernetes manifests ask for each pod of a service (requests and limits, as Kubernetes spells them). */
export interface ServiceResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

export interface ServiceTopology {
  /** Its port in the graph's catalogue: what it listens on in its container (docker-compose.yml, Kubernetes). */
  readonly port: number;
  /** When it starts in the deployment order. @default 'business' */
  readonly tier?: DeploymentTier;
  /** What its pods request and may use on Kubernetes. @default the graph's {@link GraphTopology.resources} */
  readonly resources?: ServiceResources;
  /** Services it calls directly (not through the gateway): each becomes a `<NAME>_URL` variable with a default. */
  readonly calls?: readonly string[];
  /**
   * Variables it needs beyond the ones every subgraph reads (INTERNAL_SECRET among them): random strings of at least
   * 32 characters, which deployments require rather than default.
   */
  readonly secrets?: readonly string[];
  /** It publishes events or consumes a queue on RabbitMQ: deployments give it AMQP_URL and start it once the broker is up. */
  readonly usesRabbitMq?: boolean;
  /**
   * Variables deployments pass through from their own environment, empty when unset: settings that switch a feature
   * on when given, such as a provider's credentials.
   */
  readonly optionalVariables?: readonly string[];
  /**
   * Why it is given a variable, by the variable's name (a `<NAME>_URL` of `calls`, a secret, an optional variable):
   * docker-compose.yml carries each note as a comment above its variable.
   */
  readonly notes?: Readonly<Record<string, string>>;
  /**
   * HTTP routes of its own that callers outside reach directly, not through the gateway (e.g. inbound webhooks), each
   * with what it is for: deployments publish its port, and docker-compose.yml names the routes beside it.
   */
  readonly publicRoutes?: Readonly<Record<string, string>>;
}

export interface GraphTopology {
  /** The port of the gateway serving this graph, in its container. */
  readonly gatewayPort: number;
  /** What the gateway is called in deployments (docker-compose.yml, Kubernetes). @default 'gateway' */
  readonly gatewayName?: string;
  /** When the gateway starts in the deployment order; unset, once every service of the graph is ready. */
  readonly gatewayTier?: DeploymentTier;
  /**
   * Added to each of its ports (services and gateway) when `npm start` runs it on one machine with the other graphs,
   * whose catalogues use the same ports: a service keeps its catalogue port in its own container. @default 0
   */
  readonly localPortOffset?: number;
  /**
   * Access tokens of this graph are signed with asymmetric keys by one of its services, which publishes them at
   * `/.well-known/jwks.json`: its gateway verifies them there (no JWT_SECRET), with this issuer and audience.
   */
  readonly accessTokens?: { readonly jwksFrom: string; readonly issuer: string; readonly audience: string };
  /** The Kubernetes namespace its manifests (deploy/kubernetes/<graph>/) go to; unset, it has none. */
  readonly kubernetesNamespace?: string;
  /** What each pod requests and may use on Kubernetes, unless its service says otherwise. */
  readonly resources?: ServiceResources;
  /** Folders of client operations (`.graphql`) this graph serves: the schema registry checks changes against them. */
  readonly clients: readonly string[];
  readonly services: Readonly<Record<string, ServiceTopology>>;
}

type Underscored<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}_${Underscored<Tail>}` : S;

/** The variable holding the GraphQL URL of service `S`, e.g. `NOTIFICATIONS_URL`, `CONTENT_DELIVERY_URL`. */
export type LinkVariable<S extends string> = `${Uppercase<Underscored<S>>}_URL`;
