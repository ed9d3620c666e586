import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per server, so that several servers in one test process never share counters. */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly graphqlOperations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations by type and outcome',
    labelNames: ['operation_type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly graphqlErrors = new Counter({
    name: 'graphql_errors_total',
    help: 'GraphQL errors returned to clients, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly requestStatements = new Histogram({
    name: 'graphql_request_database_statements',
    help: 'SQL statements per GraphQL request; a growing tail means an N+1',
    buckets: [0, 1, 2, 3, 5, 8, 13, 21, 50, 100],
    registers: [this.registry],
  });

  readonly databaseQueries = new Counter({
    name: 'database_queries_total',
    help: 'SQL statements sent to the database',
    registers: [this.registry],
  });

  constructor(serviceName: string) {
    this.registry.setDefaultLabels({ service: serviceName });
    collectDefaultMetrics({ register: this.registry });
  }

  async databaseQueryCount(): Promise<number> {
    const metric = await this.databaseQueries.get();
    return metric.values[0]?.value ?? 0;
  }

  /** Counts GraphQL operations and the error codes they return. */
  apolloPlugin<C extends object>(): ApolloServerPlugin<C> {
    const { graphqlOperations, graphqlErrors } = this;
    return {
      async requestDidStart() {
        return {
          async willSendResponse({ response, operation, errors }) {
            const operationType = operation?.operation ?? 'unknown';
            const body = response.body.kind === 'single' ? response.body.singleResult : response.body.initialResult;
            const reported = body.errors ?? errors ?? [];
            graphqlOperations.inc({ operation_type: operationType, outcome: reported.length > 0 ? 'error' : 'ok' });
            for (const error of reported) {
              const code = error.extensions?.code;
              graphqlErrors.inc({ code: typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR' });
            }
          },
        };
      },
    };
  }
}
