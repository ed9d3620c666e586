import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, InMemoryEventBus, InMemoryWorkQueue, Metrics, OutboxRelay, systemFork, type Database } from '@nexusflow/kit';
import { Execution, ExecutionStatus } from '../entities/execution.entity.ts';
import { StepRun, StepRunStatus } from '../entities/step-run.entity.ts';
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
  let relay: OutboxRelay;
  /** Runs every step through the queue, as a run of one step per message does. */
  let stepByStep: ExecutionEngine;
  /** Runs the steps that follow in the worker, as configured by default. */
  let chaining: ExecutionEngine;

  const statements = () => countedStatements(metrics);

  beforeAll(async () => {
    ({ database, close: closeDatabase } = await openCountedDatabase('engine-statements', metrics));
    relay = new OutboxRelay(database, new InMemoryEventBus(logger), logger);
    // A stopped relay publishes nothing, so that its own statements are not counted as the engine's.
    await relay.stop();
    await queue.consume(async (message) => {
      sent.push(message);
    });
    const steps = new StepRegistry().register(transformStep());
    stepByStep = new ExecutionEngine({ database, queue, steps, relay, logger, stepsPerMessage: 1 });
    chaining = new ExecutionEngine({ database, queue, steps, relay, logger });
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

  /** The in-memory queue hands a message over on a later turn. */
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  /** Handles the messages the engine sent, and those it sends meanwhile; returns the statements each handling ran. */
  async function handleSent(engine: ExecutionEngine): Promise<number[]> {
    const perStep: number[] = [];
    while (sent.length > 0) {
      const message = sent.shift()!;
      const before = await statements();
      await engine.handle(message);
      perStep.push((await statements()) - before);
      await nextTurn();
    }
    return perStep;
  }

  /** Handles the messages sent for the execution and those that follow; returns the statements each message ran. */
  async function runToTheEnd(engine: ExecutionEngine, execution: Execution): Promise<number[]> {
    await engine.dispatch(execution);
    return handleSent(engine);
  }

  const statusOf = async (execution: Execution) => (await systemFork(database).findOneOrFail(Execution, execution.id)).status;

  it('claims and settles a step in two statements once its version is known, and reads the version the first time', async () => {
    const execution = await startExecution(await startWorkflow(['one', 'two', 'three'].map(transform)), 'one');

    const perMessage = await runToTheEnd(stepByStep, execution);

    // The first step reads the execution, the version, inserts the attempt and settles it; then a statement each.
    expect(perMessage).toEqual([4, 2, 2]);
    expect(await statusOf(execution)).toBe(ExecutionStatus.Completed);
  });

  it('runs the steps that follow in the worker, settling each and claiming the next in one statement', async () => {
    const workflowId = await startWorkflow(['one', 'two', 'three'].map(transform));
    await runToTheEnd(chaining, await startExecution(workflowId, 'one'));
    const execution = await startExecution(workflowId, 'one');

    const perMessage = await runToTheEnd(chaining, execution);

    // One message: the claim of the first step, then a statement per step, each settling it and claiming the next.
    expect(perMessage).toEqual([4]);
    expect(await statusOf(execution)).toBe(ExecutionStatus.Completed);
    const outputs = await systemFork(database).find(StepRun, { executionId: execution.id }, { orderBy: { startedAt: 'asc' } });
    expect(outputs.map((run) => [run.stepKey, run.status, run.leaseOwner === outputs[0]!.leaseOwner])).toEqual([
      ['one', StepRunStatus.Completed, true],
      ['two', StepRunStatus.Completed, true],
      ['three', StepRunStatus.Completed, true],
    ]);
  });

  it('hands the execution back to the queue after as many steps in a row as it is allowed', async () => {
    const steps = new StepRegistry().register(transformStep());
    const twoAtATime = new ExecutionEngine({ database, queue, steps, relay, logger, stepsPerMessage: 2 });
    const workflowId = await startWorkflow(['one', 'two', 'three', 'four', 'five'].map(transform));
    await runToTheEnd(twoAtATime, await startExecution(workflowId, 'one'));
    const execution = await startExecution(workflowId, 'one');

    // Two steps per message: a claim and two settles, then a claim and two settles, then a claim and a settle.
    expect(await runToTheEnd(twoAtATime, execution)).toEqual([3, 3, 2]);
    expect(await statusOf(execution)).toBe(ExecutionStatus.Completed);
  });

  it('carries the execution on from a redelivered message for a step it has moved past, and drops a duplicate', async () => {
    const workflowId = await startWorkflow(['one', 'two', 'three'].map(transform));
    const execution = await startExecution(workflowId, 'one');
    const first: StepMessage = { executionId: execution.id, stepKey: 'one', attempt: 1, workflowId, workflowVersion: 1 };
    await stepByStep.handle(first);
    await nextTurn();
    // The message for step two is lost (its worker died before sending it on).
    expect(sent).toEqual([{ ...first, stepKey: 'two' }]);
    sent.length = 0;

    // Sent again, it is a stale duplicate: dropped, as whoever moved the execution on carries it.
    await chaining.handle(first);
    expect(await statusOf(execution)).toBe(ExecutionStatus.Running);

    // Redelivered by the broker (its consumer died before acknowledging it), it carries the execution on.
    await chaining.handle(first, { redelivered: true });

    expect(await statusOf(execution)).toBe(ExecutionStatus.Completed);
    const runs = await systemFork(database).find(StepRun, { executionId: execution.id }, { orderBy: { startedAt: 'asc' } });
    expect(runs.map((run) => [run.stepKey, run.attempt, run.status])).toEqual([
      ['one', 1, StepRunStatus.Completed],
      ['two', 1, StepRunStatus.Completed],
      ['three', 1, StepRunStatus.Completed],
    ]);
  });

  it('claims the long way a message that does not name its version, and one whose execution moved on', async () => {
    const workflowId = await startWorkflow(['one', 'two'].map(transform));
    await runToTheEnd(stepByStep, await startExecution(workflowId, 'one'));
    const execution = await startExecution(workflowId, 'one');

    // As the sweeper sends it: no version named. The execution is read, the attempt inserted, the step settled.
    let before = await statements();
    await stepByStep.handle({ executionId: execution.id, stepKey: 'one', attempt: 1 });
    expect((await statements()) - before).toBe(3);
    await handleSent(stepByStep);

    // Sent again (a redelivery) once the execution finished: the statement inserts nothing, and the read says why.
    before = await statements();
    await stepByStep.handle({ executionId: execution.id, stepKey: 'one', attempt: 1, workflowId, workflowVersion: 1 });
    expect((await statements()) - before).toBe(2);
    expect(sent).toEqual([]);
  });
});
