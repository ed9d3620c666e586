import type { Client as SseClient } from 'graphql-sse';
import type { Client as WebSocketClient } from 'graphql-ws';
import { createDeferred, postGraphQL } from '@nexusflow/kit/testing';
import { CreateWorkflowDocument, RunWorkflowDocument } from '@nexusflow/web-client';
import type { RecordingServer } from './recording-server.ts';

/**
 * Creates a two-step workflow whose first step calls `outside` at `path`, which holds the call, runs it, and
 * resolves with the execution's id once the call arrived: the run then waits, RUNNING, until the test
 * releases `path`, so that subscribers can join before anything else happens.
 */
export async function startHeldRun(options: {
  graphqlUrl: string;
  token: string;
  outside: RecordingServer;
  path: string;
  name: string;
}): Promise<string> {
  const { graphqlUrl, token, outside, path } = options;
  outside.hold(path);
  const created = (
    await postGraphQL(graphqlUrl, CreateWorkflowDocument, {
      token,
      variables: {
        input: {
          name: options.name,
          steps: [
            { key: 'wait', type: 'http', config: { url: `${outside.url}${path}` } },
            { key: 'done', type: 'transform', config: { template: { ok: true } } },
          ],
        },
      },
    })
  ).data?.createWorkflow;
  if (created?.__typename !== 'Workflow') throw new Error('createWorkflow failed');
  const run = (await postGraphQL(graphqlUrl, RunWorkflowDocument, { token, variables: { id: created.id } })).data?.runWorkflow;
  if (run?.__typename !== 'Execution') throw new Error('runWorkflow failed');
  await outside.arrival(path);
  return run.id;
}

/**
 * Subscribes to `executionUpdated` with `query` and collects the updates: `first` settles with the first one,
 * `completed` when the execution reached COMPLETED, `failed` with the errors of a refused subscription.
 */
export function collectExecutionUpdates<Update extends { status: string }>(
  client: WebSocketClient | SseClient,
  query: string,
  executionId: string,
) {
  const updates: Update[] = [];
  const first = createDeferred();
  const completed = createDeferred();
  const failed = createDeferred<unknown>();
  client.subscribe<{ executionUpdated: Update }>(
    { query, variables: { id: executionId } },
    {
      next: ({ data, errors }) => {
        if (errors) failed.resolve(errors);
        if (!data) return;
        updates.push(data.executionUpdated);
        first.resolve();
        if (data.executionUpdated.status === 'COMPLETED') completed.resolve();
      },
      error: (error) => failed.resolve(error),
      complete: () => undefined,
    },
  );
  return { updates, first: first.promise, completed: completed.promise, failed: failed.promise };
}
