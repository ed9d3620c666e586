import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import {
  Role,
  secretOrDevelopmentDefault,
  signAccessToken,
  systemFork,
  type DomainEvent,
  type Environment,
  type RunningSubgraph,
} from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { routesFor, startServices, TestServices, type StorageMode } from '../../../../../test/support/services.ts';
import type { RunningGateway } from '../../../../../gateway/src/gateway.ts';
import type { AuditServices } from '../../src/context.ts';
import { AuditEntry } from '../../src/entities/audit-entry.entity.ts';

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
 * The audit service (and any other services of the graph) behind the nexusflow gateway on one storage mode, with the
 * bus they share: what a test publishes on it, audit consumes as it would from any service.
 */
export class AuditUnderTest {
  private constructor(
    readonly services: TestServices,
    readonly audit: RunningSubgraph<AuditServices>,
    readonly running: Record<string, RunningSubgraph<unknown>>,
    readonly gateway: RunningGateway,
  ) {}

  static async start(mode: StorageMode, label: string, others: string[] = [], gatewaySettings: Environment = {}): Promise<AuditUnderTest> {
    const services = await TestServices.create(mode, label);
    try {
      const running: Record<string, RunningSubgraph<unknown>> = {};
      // One event at a time, so that a redelivery is handled before the event published after it.
      await startServices(services, 'nexusflow', ['audit', ...others], running, {
        audit: { AUDIT_PRUNE_INTERVAL_MS: '0', AUDIT_EVENT_CONCURRENCY: '1' },
      });
      const gateway = await services.startGateway('nexusflow', routesFor('nexusflow', running), gatewaySettings);
      return new AuditUnderTest(services, running.audit as RunningSubgraph<AuditServices>, running, gateway);
    } catch (error) {
      await services.close();
      throw error;
    }
  }

  async send<T = Record<string, any>>(
    caller: Caller | undefined,
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
    /** Another gateway in front of these services, e.g. one reaching audit through a proxy. */
    via: RunningGateway = this.gateway,
  ) {
    const token = caller
      ? (
          await signAccessToken(
            { userId: caller.userId, tenantId: caller.tenantId, roles: caller.roles },
            secretOrDevelopmentDefault(undefined),
            900,
          )
        ).token
      : undefined;
    return postGraphQL<T>(via.graphqlUrl, query, { ...(token ? { token } : {}), variables, headers });
  }

  /** The data of an operation that must succeed. */
  async data<T = Record<string, any>>(caller: Caller, query: string, variables?: Record<string, unknown>): Promise<T> {
    const response = await this.send<T>(caller, query, variables);
    expect(response.errors).toBeUndefined();
    return response.data!;
  }

  publish(event: Partial<DomainEvent> & Pick<DomainEvent, 'type' | 'tenantId'>): Promise<DomainEvent> {
    const full: DomainEvent = { id: randomUUID(), occurredAt: new Date().toISOString(), payload: {}, ...event };
    return this.audit.eventBus.publish(full).then(() => full);
  }

  /** The tenant's entries in order of sequence, straight from the table. */
  async entriesOf(tenantId: string): Promise<AuditEntry[]> {
    return systemFork(this.audit.database).find(AuditEntry, { tenantId }, { orderBy: { sequence: 'asc' } });
  }

  /** Waits until the tenant's trail holds `count` entries (appends are asynchronous: the bus, the gateway's buffer). */
  async waitForEntries(tenantId: string, count: number): Promise<AuditEntry[]> {
    await expect.poll(async () => (await this.entriesOf(tenantId)).length, { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(count);
    return this.entriesOf(tenantId);
  }

  /** Runs SQL as the database's owner, outside any tenant scope: what someone with access to the database could do. */
  sql<T = Record<string, unknown>[]>(query: string, params: unknown[] = []): Promise<T> {
    return systemFork(this.audit.database).execute(query, params) as Promise<T>;
  }

  close(): Promise<void> {
    return this.services.close();
  }
}
