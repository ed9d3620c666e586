import { Gauge, type Registry } from 'prom-client';
import { ANONYMOUS, signIdentity } from '@nexusflow/kit/core';

export interface SubgraphStatus {
  status: 'up' | 'down';
  /** Why it counts as down, without addresses: `unreachable`, `HTTP 502`, `answered with errors`, `no answer within 2000 ms`. */
  error?: string;
}

export interface SubgraphHealthOptions {
  /** The subgraphs of the supergraph being served: routing URL by name. */
  subgraphs: () => ReadonlyMap<string, string>;
  internalSecret: string;
  /** Where `gateway_subgraph_up` is exported. */
  registry: Registry;
  /** How long a subgraph may take to answer before it counts as down. @default 1500, inside readiness's own 2 s */
  timeoutMs?: number;
}

/**
 * Whether each subgraph answers `{ __typename }`, asked the way the gateway asks (signed, anonymous). It informs
 * readiness and metrics but never makes the gateway unready: with a subgraph down the gateway still answers
 * everything else, fields of that subgraph null with errors, so taking it out of a load balancer would serve nothing
 * instead of nearly everything. Every readiness probe and every metrics scrape asks afresh; concurrent ones share one
 * round of questions.
 */
export class SubgraphHealth {
  private readonly timeoutMs: number;
  private readonly up: Gauge<'subgraph'>;
  private round: Promise<Record<string, SubgraphStatus>> | undefined;

  constructor(private readonly options: SubgraphHealthOptions) {
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.up = new Gauge({
      name: 'gateway_subgraph_up',
      help: '1 while the subgraph answers the gateway, 0 while it does not; asked at every scrape',
      labelNames: ['subgraph'] as const,
      registers: [options.registry],
      // Across the workers of the multi-process mode: up only while every one of them reaches it.
      aggregator: 'min',
      collect: async () => {
        await this.check();
      },
    });
  }

  /** Every subgraph's status now, by name. */
  check(): Promise<Record<string, SubgraphStatus>> {
    this.round ??= this.askAll().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async askAll(): Promise<Record<string, SubgraphStatus>> {
    const subgraphs = [...this.options.subgraphs()];
    const statuses = await Promise.all(subgraphs.map(([, url]) => this.ask(url)));
    // Reset first, so that a subgraph dropped by a new supergraph stops being exported.
    this.up.reset();
    const report: Record<string, SubgraphStatus> = {};
    subgraphs.forEach(([name], index) => {
      const status = statuses[index]!;
      report[name] = status;
      this.up.set({ subgraph: name }, status.status === 'up' ? 1 : 0);
    });
    return report;
  }

  private async ask(url: string): Promise<SubgraphStatus> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signIdentity(ANONYMOUS, this.options.internalSecret) },
        body: JSON.stringify({ query: '{ __typename }' }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return { status: 'down', error: `HTTP ${response.status}` };
      }
      const body = (await response.json()) as { errors?: unknown[] } | null;
      return body?.errors?.length ? { status: 'down', error: 'answered with errors' } : { status: 'up' };
    } catch (error) {
      if (error instanceof DOMException && error.name === 'TimeoutError')
        return { status: 'down', error: `no answer within ${this.timeoutMs} ms` };
      if (error instanceof SyntaxError) return { status: 'down', error: 'answered what is not JSON' };
      return { status: 'down', error: 'unreachable' };
    }
  }
}
