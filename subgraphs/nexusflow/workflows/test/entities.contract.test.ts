import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, STATEMENTS_HEADER, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, createTestDatabase, postGraphQL, storageModes, testEnvironment } from '@nexusflow/kit/testing';
import type { WorkflowServices } from '../src/context.ts';
import { Execution, ExecutionStatus } from '../src/entities/execution.entity.ts';
import { StepRun, StepRunStatus } from '../src/entities/step-run.entity.ts';
import type { Workflow } from '../src/entities/workflow.entity.ts';
import { subgraph as workflowsSubgraph } from '../src/subgraph.ts';

const ENTITIES = `query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Workflow { id name executions(first: 5) { edges { node { id status } } } }
    ... on Execution { id status stepRuns { stepKey status } }
    ... on User { id workflows(first: 5) { edges { node { id } } } }
  }
}`;

type Entity = { id: string; executions?: { edges: unknown[] }; stepRuns?: unknown[]; workflows?: { edges: unknown[] } } | null;

/** The federation contract of every `@key` in the workflows subgraph: batched, constant SQL per type. */
describe('workflows _entities contract', () => {
  describe.each(storageModes(['postgres']))('on $storage', ({ mode }) => {
    let subgraph: RunningSubgraph<WorkflowServices>;
    const cleanups: (() => Promise<void>)[] = [];
    const tenantId = crypto.randomUUID();
    const owners = Array.from({ length: 10 }, () => crypto.randomUUID());
    const caller: Identity = { kind: 'user', userId: owners[0]!, tenantId, roles: [Role.Owner] };
    const workflows: Workflow[] = [];
    const executions: Execution[] = [];

    beforeAll(async () => {
      const dataDir = await createTempDirectory(`workflows-contract-${mode}`);
      cleanups.push(dataDir.remove);
      const env: Record<string, string> = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', RUN_WORKER: 'false' };
      if (mode === 'postgres') {
        const database = await createTestDatabase(testEnvironment.postgresUrl!, 'workflows_contract');
        cleanups.push(database.drop);
        env.DATABASE_URL = database.url;
      }
      subgraph = await workflowsSubgraph.start(env);
      cleanups.push(() => subgraph.close());

      const em = systemFork(subgraph.database);
      for (const [index, ownerId] of owners.entries()) {
        for (let n = 0; n < 10; n++) {
          const identity: Identity = { kind: 'user', userId: ownerId, tenantId, roles: [Role.Member] };
          const created = await subgraph.services.workflows.create(em, identity, {
            name: `Workflow ${index}-${n}`,
            steps: [{ key: 'wait', type: 'delay', config: { durationMs: 10 } }],
          });
          workflows.push(created as Workflow);
        }
      }
      for (const workflow of workflows) {
        const execution = em.create(Execution, {
          tenantId,
          workflowId: workflow.id,
          workflowVersion: 1,
          status: ExecutionStatus.Completed,
          input: null,
          output: null,
          errorMessage: null,
          errorStep: null,
          currentStep: null,
          currentAttempt: 1,
          resumeAt: null,
          revision: 3,
          triggeredBy: workflow.ownerId,
          ownerId: workflow.ownerId,
          idempotencyKey: null,
          startedAt: new Date(),
          finishedAt: new Date(),
        });
        em.create(StepRun, {
          executionId: execution.id,
          stepKey: 'wait',
          stepType: 'delay',
          attempt: 1,
          idempotencyKey: `${execution.id}:wait:1`,
          status: StepRunStatus.Completed,
          output: { delayedMs: 10 },
          errorMessage: null,
          leaseUntil: new Date(),
          startedAt: new Date(),
          finishedAt: new Date(),
        });
        executions.push(execution);
      }
      await em.flush();
    });

    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function resolve(representations: { __typename: string; id: string }[]) {
      const response = await postGraphQL<{ _entities: Entity[] }>(subgraph.graphqlUrl, ENTITIES, {
        variables: { representations },
        headers: signIdentity(caller, subgraph.config.internalSecret),
      });
      expect(response.errors).toBeUndefined();
      return { entities: response.data!._entities, statements: Number(response.headers.get(STATEMENTS_HEADER)) };
    }

    const refs = (typename: string, ids: string[]) => ids.map((id) => ({ __typename: typename, id }));

    it('resolves 1, 10 and 100 Workflow references with their executions in the same two statements', async () => {
      const counts: number[] = [];
      for (const size of [1, 10, 100]) {
        const { entities, statements } = await resolve(
          refs(
            'Workflow',
            workflows.slice(0, size).map((w) => w.id),
          ),
        );
        expect(entities.map((e) => e?.id)).toEqual(workflows.slice(0, size).map((w) => w.id));
        expect(entities.every((e) => e?.executions?.edges.length === 1)).toBe(true);
        counts.push(statements);
      }
      expect(counts).toEqual([2, 2, 2]);
    });

    it('resolves 1, 10 and 100 Execution references with their step runs in the same two statements', async () => {
      const counts: number[] = [];
      for (const size of [1, 10, 100]) {
        const { entities, statements } = await resolve(
          refs(
            'Execution',
            executions.slice(0, size).map((e) => e.id),
          ),
        );
        expect(entities.every((e) => e?.stepRuns?.length === 1)).toBe(true);
        counts.push(statements);
      }
      expect(counts).toEqual([2, 2, 2]);
    });

    it('adds workflows to User references with one statement however many users there are', async () => {
      const { entities, statements } = await resolve(refs('User', owners));
      expect(entities.map((e) => e?.workflows?.edges.length)).toEqual(owners.map(() => 5));
      expect(statements).toBe(1);
    });

    it('answers null for references of another tenant and for ids that are not UUIDs', async () => {
      const stranger: Identity = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Owner] };
      const response = await postGraphQL<{ _entities: Entity[] }>(subgraph.graphqlUrl, ENTITIES, {
        variables: { representations: [...refs('Workflow', [workflows[0]!.id, 'not-a-uuid']), ...refs('Execution', [executions[0]!.id])] },
        headers: signIdentity(stranger, subgraph.config.internalSecret),
      });
      expect(response.data?._entities).toEqual([null, null, null]);
    });
  });
});
