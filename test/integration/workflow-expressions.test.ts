import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storageModes } from '@nexusflow/kit/testing';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask } from '../support/requests.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { WorkflowWatch } from '../support/workflow-watch.ts';

const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) {
    __typename
    ... on Workflow { id }
    ... on InvalidWorkflow { problems { field problem } }
  }
}`;
const UPDATE_WORKFLOW = `mutation ($id: ID!, $input: WorkflowInput!) {
  updateWorkflow(id: $id, input: $input) {
    __typename
    ... on InvalidWorkflow { problems { field problem } }
  }
}`;
const RUN_WORKFLOW = `mutation ($id: ID!, $input: JSON) {
  runWorkflow(id: $id, input: $input) { __typename ... on Execution { id } }
}`;
const EXECUTION = `query ($id: ID!) {
  execution(id: $id) { status error { stepKey message } stepRuns { stepKey status output } }
}`;

interface StepRun {
  stepKey: string;
  status: string;
  output: unknown;
}

/** Conditions and transforms written in JSONata, saved and run through the gateway, in each storage mode. */
describe('workflow expressions', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    let stack: Stack;
    let owner: SignedUp;
    const watches: WorkflowWatch[] = [];

    async function createWorkflow(steps: unknown[]) {
      const response = await ask(stack, owner.token, CREATE_WORKFLOW, {
        input: { name: `Expressions ${randomUUID().slice(0, 8)}`, steps },
      });
      expect(response.errors).toBeUndefined();
      return response.data!.createWorkflow as { __typename: string; id?: string; problems?: { field: string; problem: string }[] };
    }

    async function runToTheEnd(steps: unknown[], input: unknown) {
      const workflow = await createWorkflow(steps);
      if (workflow.__typename !== 'Workflow') throw new Error(`createWorkflow failed: ${JSON.stringify(workflow)}`);
      const watch = await WorkflowWatch.start(stack.workflows.pubsub, workflow.id!);
      watches.push(watch);
      const started = await ask(stack, owner.token, RUN_WORKFLOW, { id: workflow.id, input });
      const executionId = (started.data?.runWorkflow as { id?: string } | undefined)?.id;
      if (!executionId) throw new Error(`runWorkflow failed: ${JSON.stringify(started)}`);
      await watch.finished(executionId);
      const details = await ask<{ execution: { status: string; error: unknown; stepRuns: StepRun[] } }>(stack, owner.token, EXECUTION, {
        id: executionId,
      });
      return details.data!.execution;
    }

    const orderSteps = [
      {
        key: 'check',
        type: 'condition',
        config: {
          expression: '$sum(input.lines.(qty * price)) >= 100 and $contains(input.customer.email, "@")',
          then: 'large',
          else: 'small',
        },
      },
      {
        key: 'large',
        type: 'transform',
        config: {
          expression: `{
            "customer": $lowercase(input.customer.email),
            "total": $sum(input.lines.(qty * price)),
            "skus": input.lines[price > 10].sku[],
            "placed": $fromMillis(input.placedAt)
          }`,
        },
      },
      { key: 'done', type: 'condition', config: { expression: 'true', then: null, else: null } },
      {
        key: 'small',
        type: 'transform',
        config: { template: { note: 'small order of {{= $count(input.lines) }} lines for {{input.customer.email}}' } },
      },
    ];

    beforeAll(async () => {
      stack = await startStack(mode, `workflow_expressions_${mode}`);
      owner = await signUp(stack.gateway.graphqlUrl, 'expressions');
    });

    afterEach(async () => {
      for (const watch of watches.splice(0)) await watch.close();
    });

    afterAll(async () => {
      await stack?.close();
    });

    it('branches on a condition expression and shapes the output with a transform expression', async () => {
      const execution = await runToTheEnd(orderSteps, {
        customer: { email: 'Ada@Example.com' },
        placedAt: 0,
        lines: [
          { sku: 'pen', qty: 4, price: 5 },
          { sku: 'lamp', qty: 2, price: 40 },
        ],
      });
      expect(execution).toMatchObject({ status: 'COMPLETED', error: null });
      expect(execution.stepRuns.map((run) => [run.stepKey, run.status, run.output])).toEqual([
        ['check', 'COMPLETED', { matched: true }],
        ['large', 'COMPLETED', { customer: 'ada@example.com', total: 100, skus: ['lamp'], placed: '1970-01-01T00:00:00.000Z' }],
        ['done', 'COMPLETED', { matched: true }],
      ]);
    });

    it('takes the other branch, where a template mixes an expression with a placeholder', async () => {
      const execution = await runToTheEnd(orderSteps, {
        customer: { email: 'ada@example.com' },
        placedAt: 0,
        lines: [{ sku: 'pen', qty: 1, price: 5 }],
      });
      expect(execution.stepRuns.map((run) => [run.stepKey, run.output])).toEqual([
        ['check', { matched: false }],
        ['small', { note: 'small order of 1 lines for ada@example.com' }],
      ]);
    });

    it('fails the step for good, with a clear message, when an expression runs into a limit', async () => {
      const execution = await runToTheEnd([{ key: 'spin', type: 'transform', config: { expression: '[1..99999].$sum([1..99999])' } }], {});
      expect(execution).toMatchObject({
        status: 'FAILED',
        error: { stepKey: 'spin', message: 'expression: the expression failed: The expression ran longer than 250 ms' },
      });
      expect(execution.stepRuns.map((run) => run.status)).toEqual(['FAILED']);
    });

    it('refuses, on create and on update, an expression that does not compile, naming the step, the field and the position', async () => {
      const broken = [{ key: 'check', type: 'condition', config: { expression: 'input.amount >', then: null, else: null } }];
      const refusal = {
        __typename: 'InvalidWorkflow',
        problems: [
          {
            field: 'steps.0.config',
            problem: 'step "check": expression: is not a valid JSONata expression: Unexpected end of expression (at character 14)',
          },
        ],
      };
      expect(await createWorkflow(broken)).toEqual(refusal);

      const workflow = await createWorkflow(orderSteps);
      const updated = await ask(stack, owner.token, UPDATE_WORKFLOW, { id: workflow.id, input: { name: 'Broken', steps: broken } });
      expect(updated.data?.updateWorkflow).toEqual(refusal);
    });
  });
});
