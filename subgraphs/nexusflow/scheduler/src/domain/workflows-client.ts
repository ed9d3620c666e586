import { callSubgraph, SubgraphRequestError, type Identity, type TypedDocumentNode } from '@nexusflow/kit';
import { ScheduledRunDocument, ScheduledWorkflowDocument } from '../__generated__/workflows-operations.ts';

export type RunOutcome = { ok: true; executionId: string } | { ok: false; retryable: boolean; message: string };

/**
 * The scheduler talks to the workflows subgraph as the gateway would: with a signed identity, here the
 * schedule's creator. Runs carry an idempotency key per tick, so a tick fired twice starts one run.
 */
export class WorkflowsClient {
  constructor(
    private readonly url: string,
    private readonly internalSecret: string,
  ) {}

  private call<TResult, TVariables>(
    identity: Identity,
    query: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> {
    return callSubgraph({ url: this.url, identity, internalSecret: this.internalSecret, query, variables });
  }

  async exists(identity: Identity, workflowId: string): Promise<boolean> {
    const data = await this.call(identity, ScheduledWorkflowDocument, { id: workflowId });
    return data.workflow !== null;
  }

  async run(identity: Identity, workflowId: string, input: unknown, idempotencyKey: string): Promise<RunOutcome> {
    try {
      const data = await this.call(identity, ScheduledRunDocument, { id: workflowId, input, key: idempotencyKey });
      const result = data.runWorkflow;
      if (result.__typename === 'Execution') return { ok: true, executionId: result.id };
      // A result type added to the union after this build arrives with its __typename alone.
      return { ok: false, retryable: false, message: result.message ?? result.__typename };
    } catch (error) {
      // Refused for good (the creator lost access, say): the tick fails rather than being tried at every pass for ever.
      const retryable = !(error instanceof SubgraphRequestError) || error.retryable;
      return { ok: false, retryable, message: (error as Error).message };
    }
  }
}
