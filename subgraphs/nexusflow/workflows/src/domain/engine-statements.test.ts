import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, InMemoryEventBus, InMemoryWorkQueue, Metrics, OutboxRelay, systemFork, type Database } from '@nexusflow/kit';
import { Execution, ExecutionStatus } from '../entities/execution.entity.ts';
import { WorkflowVersion } from '../entities/workflow-version.entity.ts';
import { StepRegistry } from '../steps/registry.ts';
import { transformStep } from '../steps/transform.ts';
import type { StepDefinition } from './definition.ts';
import { ExecutionEngine, type StepMessage } from './engine.ts';
import { countedStatements, openCountedDatabase } from './test-database.ts';

const logger = createLogger({ name: 'engine-statements-test', level: 'silent' });

const transform = (key: string): StepDefinition => ({
  key,
  type: 'transform',
  config: { template: { step: key } },
  retry: { maxAttempts: 1, initialBackoffMs: 100, maxBackoffMs: 100 },
  timeoutMs: 1000,
});

/** What the engine costs the database per step, counted on a database nothing else uses. */
describe('the workflow engine, statement by statement', () => {
  let database: Database;
  let closeDatabase: () => Promise<void>;
  const metrics = new Metrics('engine-statements-test');
  const queue = new InMemoryWorkQueue<StepMessage>('engine-statements-test', logger);
  /** Step messages as the engine sent them, handled one at a time by the test. */
  const sent: StepMessage[] = [];
  let engine: ExecutionEngine;

  const statements = () => countedStatements(metrics);

  beforeAll(async () => {
    ({ database, close: closeDatabase } = await openCountedDatabase('engine-statements', metrics));
    const relay = new OutboxRelay(database, new InMemoryEventBus(logger), logger);
    // A stopped relay publishes nothing, so that its own statements are not counted as the engine's.
    await relay.stop();
    await queue.consume(async (message) => {
      sent.push(message);
    });
    engine = new ExecutionEngine({ database, queue, steps: new StepRegistry().register(transformStep()), relay, logger });
  });

  afterAll(async () => {
    await queue.close();
    await closeDatabase?.();
  });

  async function startWorkflow(steps: StepDefinition[]): Promise<string> {
    const em = systemFork(database);
    const workflowId = randomUUID();
    em.create(WorkflowVersion, { workflowId, version: 1, name: 'Counted', steps, triggers: [], createdBy: randomUUID() });
    await em.flush();
    return workflowId;
  }

  async function startExecution(workflowId: string, firstStep: string): Promise<Execution> {
    const em = systemFork(database);
    const execution = em.create(Execution, {
      tenantId: randomUUID(),
      workflowId,
      workflowVersion: 1,
      input: null,
      output: null,
      status: ExecutionStatus.Running,
      currentStep: firstStep,
      currentAttempt: 1,
      revision: 1,
    });
    await em.flush();
    return execution;
  }

  /** Handles the messages the engine sent, and those it sends meanwhile; returns the statements each handling ran. */
  async function handleSent(): Promise<number[]> {
    const perStep: number[] = [];
    while (sent.length > 0) {
      const message = sent.shift()!;
      const before = await statements();
      await engine.handle(message);
      perStep.push((await statements()) - before);
      // The in-memory queue hands the next message over on a later turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return perStep;
  }

  async function runToTheEnd(execution: Execution): Promise<number[]> {
    await engine.dispatch(execution);
    return handleSent();
  }

  it('claims and settles a step in two statements once its version is known, and reads the version the first time', async () => {
    const execution = await startExecution(await startWorkflow(['one', 'two', 'three'].map(transform)), 'one');

    const perStep = await runToTheEnd(execution);

    // The first step reads the execution, the version, inserts the attempt and settles it; then a statement each.
    expect(perStep).toEqual([4, 2, 2]);
    const finished = await systemFork(database).findOneOrFail(Execution, execution.id);
    expect(finished.status).toBe(ExecutionStatus.Completed);
  });

  it('claims the long way a message that does not name its version, and one whose execution moved on', async () => {
    const workflowId = await startWorkflow(['one', 'two'].map(transform));
    await runToTheEnd(await startExecution(workflowId, 'one'));
    const execution = await startExecution(workflowId, 'one');

    // As the sweeper sends it: no version named. The execution is read, the attempt inserted, the step settled.
    let before = await statements();
    await engine.handle({ executionId: execution.id, stepKey: 'one', attempt: 1 });
    expect((await statements()) - before).toBe(3);
    await handleSent();

    // Sent again (a redelivery) once the execution finished: the statement inserts nothing, and the read says why.
    before = await statements();
    await engine.handle({ executionId: execution.id, stepKey: 'one', attempt: 1, workflowId, workflowVersion: 1 });
    expect((await statements()) - before).toBe(2);
    expect(sent).toEqual([]);
  });
});
