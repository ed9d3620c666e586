export interface ServiceTopology {
  /** The port it listens on by default, and in docker-compose.yml. */
  readonly port: number;
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
  /** The port of the gateway serving this graph. */
  readonly gatewayPort: number;
  /** Folders of client operations (`.graphql`) this graph serves: the schema registry checks changes against them. */
  readonly clients: readonly string[];
  readonly services: Readonly<Record<string, ServiceTopology>>;
}

type Underscored<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}_${Underscored<Tail>}` : S;

/** The variable holding the GraphQL URL of service `S`, e.g. `NOTIFICATIONS_URL`, `CONTENT_DELIVERY_URL`. */
export type LinkVariable<S extends string> = `${Uppercase<Underscored<S>>}_URL`;
