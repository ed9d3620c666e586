import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { Role, secretOrDevelopmentDefault, signAccessToken, systemFork, type DomainEvent, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { routesFor, startServices, TestServices, type StorageMode } from '../../../../../test/support/services.ts';
import type { RunningGateway } from '../../../../../gateway/src/gateway.ts';
import type { AnalyticsServices } from '../../src/context.ts';

export interface Caller {
  tenantId: string;
  userId: string;
  roles: Role[];
}

export const callerOf = (roles: Role[] = [Role.Admin], tenantId: string = randomUUID()): Caller => ({
  tenantId,
  userId: randomUUID(),
  roles,
});

/**
 * The analytics service behind the nexusflow gateway on one storage mode, with its bus: what a test publishes on it,
 * analytics consumes as it would from any service.
 */
export class AnalyticsUnderTest {
  private constructor(
    readonly services: TestServices,
    readonly analytics: RunningSubgraph<AnalyticsServices>,
    readonly gateway: RunningGateway,
  ) {}

  static async start(mode: StorageMode, label: string): Promise<AnalyticsUnderTest> {
    const services = await TestServices.create(mode, label);
    try {
      const running: Record<string, RunningSubgraph<unknown>> = {};
      // One event at a time, so that a redelivery is handled after the delivery it repeats.
      await startServices(services, 'nexusflow', ['analytics'], running, {
        analytics: { ANALYTICS_EVENT_CONCURRENCY: '1', ANALYTICS_PARTITION_INTERVAL_MS: '0' },
      });
      const gateway = await services.startGateway('nexusflow', routesFor('nexusflow', running));
      return new AnalyticsUnderTest(services, running.analytics as RunningSubgraph<AnalyticsServices>, gateway);
    } catch (error) {
      await services.close();
      throw error;
    }
  }

  async send<T = Record<string, any>>(caller: Caller | undefined, query: string, variables?: Record<string, unknown>) {
    const token = caller
      ? (
          await signAccessToken(
            { userId: caller.userId, tenantId: caller.tenantId, roles: caller.roles },
            secretOrDevelopmentDefault(undefined),
            900,
          )
        ).token
      : undefined;
    return postGraphQL<T>(this.gateway.graphqlUrl, query, { ...(token ? { token } : {}), variables });
  }

  /** The data of an operation that must succeed. */
  async data<T = Record<string, any>>(caller: Caller, query: string, variables?: Record<string, unknown>): Promise<T> {
    const response = await this.send<T>(caller, query, variables);
    expect(response.errors).toBeUndefined();
    return response.data!;
  }

  async publish(event: Partial<DomainEvent> & Pick<DomainEvent, 'type' | 'tenantId'>): Promise<DomainEvent> {
    const full: DomainEvent = { id: randomUUID(), occurredAt: new Date().toISOString(), payload: {}, ...event };
    await this.analytics.eventBus.publish(full);
    return full;
  }

  /** Publishes the events in order, then waits until the tenant's store holds `count` of them (the bus is asynchronous). */
  async publishAndWait(tenantId: string, events: Omit<Partial<DomainEvent>, 'tenantId'>[], count = events.length): Promise<void> {
    for (const event of events) await this.publish({ type: 'test.event', ...event, tenantId });
    await this.waitForEvents(tenantId, count);
  }

  async waitForEvents(tenantId: string, count: number): Promise<void> {
    await expect.poll(() => this.countOf(tenantId), { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(count);
  }

  async countOf(tenantId: string): Promise<number> {
    const [row] = await this.sql<{ count: string }[]>(`select count(*) as "count" from "analytics_events" where "tenant_id" = ?`, [
      tenantId,
    ]);
    return Number(row!.count);
  }

  /** Runs SQL as the database's owner, outside any tenant scope. */
  sql<T = Record<string, unknown>[]>(query: string, params: unknown[] = []): Promise<T> {
    return systemFork(this.analytics.database).execute(query, params) as Promise<T>;
  }

  close(): Promise<void> {
    return this.services.close();
  }
}
