import { callSubgraph, type Identity } from '@nexusflow/kit';

export type RunOutcome = { ok: true; executionId: string } | { ok: false; retryable: boolean; message: string };

const RUN = `mutation ScheduledRun($id: ID!, $input: JSON, $key: String) {
  runWorkflow(id: $id, input: $input, idempotencyKey: $key) {
    __typename
    ... on Execution { id }
    ... on WorkflowError { message }
  }
}`;

const EXISTS = `query ScheduledWorkflow($id: ID!) { workflow(id: $id) { id } }`;

/**
 * The scheduler talks to the workflows subgraph as the gateway would: with a signed identity, here the
 * schedule's creator. Runs carry an idempotency key per tick, so a tick fired twice starts one run.
 */
export class WorkflowsClient {
  constructor(
    private readonly url: string,
    private readonly internalSecret: string,
  ) {}

  private call<T>(identity: Identity, query: string, variables: Record<string, unknown>): Promise<T> {
    return callSubgraph<T>({ url: this.url, identity, internalSecret: this.internalSecret, query, variables });
  }

  async exists(identity: Identity, workflowId: string): Promise<boolean> {
    const data = await this.call<{ workflow: { id: string } | null }>(identity, EXISTS, { id: workflowId });
    return data.workflow !== null;
  }

  async run(identity: Identity, workflowId: string, input: unknown, idempotencyKey: string): Promise<RunOutcome> {
    try {
      const data = await this.call<{ runWorkflow: { __typename: string; id?: string; message?: string } }>(identity, RUN, {
        id: workflowId,
        input,
        key: idempotencyKey,
      });
      const result = data.runWorkflow;
      if (result.__typename === 'Execution' && result.id) return { ok: true, executionId: result.id };
      return { ok: false, retryable: false, message: result.message ?? result.__typename };
    } catch (error) {
      return { ok: false, retryable: true, message: (error as Error).message };
    }
  }
}
