import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, Role, systemFork, tenantFork, type Database, type EntityManager } from '@nexusflow/kit';
import { Execution, ExecutionStatus } from '../entities/execution.entity.ts';
import { SharedExecutionReads } from './shared-execution-reads.ts';
import { countedStatements, openCountedDatabase } from './test-database.ts';

/** Reads as the workflows subgraph does: the execution as stored now, through a fresh context. */
const readCurrent = (em: EntityManager, id: string) => em.fork().findOne(Execution, { id });

const memberOf = (tenantId: string) => ({ kind: 'user' as const, userId: randomUUID(), tenantId, roles: [Role.Viewer] });

describe('the execution as live subscribers read it', () => {
  let database: Database;
  let closeDatabase: () => Promise<void>;
  const metrics = new Metrics('shared-execution-reads-test');
  const tenantId = randomUUID();
  let executionId: string;

  /** Statements the database ran while `work` did. Nothing else runs on this database. */
  async function statementsOf(work: () => Promise<unknown>): Promise<number> {
    const before = await countedStatements(metrics);
    await work();
    return (await countedStatements(metrics)) - before;
  }

  async function setRevision(revision: number, status: ExecutionStatus) {
    await systemFork(database).nativeUpdate(Execution, { id: executionId }, { revision, status });
  }

  beforeAll(async () => {
    ({ database, close: closeDatabase } = await openCountedDatabase('shared-execution-reads', metrics));
    const em = systemFork(database);
    const execution = em.create(Execution, {
      tenantId,
      workflowId: randomUUID(),
      workflowVersion: 1,
      input: null,
      output: null,
      status: ExecutionStatus.Running,
      currentStep: 'one',
      currentAttempt: 1,
      revision: 1,
    });
    await em.flush();
    executionId = execution.id;
  });

  afterAll(async () => {
    await closeDatabase?.();
  });

  it('reads an execution once for every subscriber of the tenant resolving the same update', async () => {
    const reads = new SharedExecutionReads(readCurrent);
    const subscribers = Array.from({ length: 50 }, () => tenantFork(database, memberOf(tenantId)));
    let seen: (Execution | null)[] = [];

    const statements = await statementsOf(async () => {
      seen = await Promise.all(subscribers.map((em) => reads.read(em, tenantId, executionId, 1)));
    });

    expect(statements).toBe(1);
    expect(seen.map((execution) => execution?.revision)).toEqual(Array(50).fill(1));
  });

  it('reads again for a later update, and answers an earlier one from that newer read', async () => {
    const reads = new SharedExecutionReads(readCurrent);
    const em = tenantFork(database, memberOf(tenantId));
    await setRevision(2, ExecutionStatus.Running);
    await reads.read(em, tenantId, executionId, 2);
    await setRevision(3, ExecutionStatus.Completed);

    const later = await reads.read(em, tenantId, executionId, 3);
    const earlierStatements = await statementsOf(() => reads.read(em, tenantId, executionId, 2));

    expect(later).toMatchObject({ revision: 3, status: ExecutionStatus.Completed });
    expect(earlierStatements).toBe(0);
    expect(await reads.read(em, tenantId, executionId, 2)).toBe(later);
  });

  it('never answers one tenant from a read made for another', async () => {
    const reads = new SharedExecutionReads(readCurrent);
    const strangerTenant = randomUUID();
    await reads.read(tenantFork(database, memberOf(tenantId)), tenantId, executionId, 3);

    const stranger = await reads.read(tenantFork(database, memberOf(strangerTenant)), strangerTenant, executionId, 3);

    expect(stranger).toBeNull();
  });

  it('keeps the latest read of at most `limit` executions, forgetting the one read longest ago', async () => {
    const reads = new SharedExecutionReads(readCurrent, 2);
    const em = tenantFork(database, memberOf(tenantId));
    await reads.read(em, tenantId, executionId, 3);
    await reads.read(em, tenantId, randomUUID(), 1);
    await reads.read(em, tenantId, randomUUID(), 1);

    expect(await statementsOf(() => reads.read(em, tenantId, executionId, 3))).toBe(1);
  });
});
